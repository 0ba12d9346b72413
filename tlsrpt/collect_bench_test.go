package tlsrpt

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRecordSuccess records successes of one policy from every
// processor through a kept PolicyCounter, the MTA's hot path.
func BenchmarkRecordSuccess(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	pc := c.Counter(stsPolicy("example.com"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pc.Success()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkRecordSuccessLookup looks the counter up for every session
// (c.Counter(p).Success()), spread over 100 policies.
func BenchmarkRecordSuccessLookup(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	policies := make([]AppliedPolicy, 100)
	for i := range policies {
		policies[i] = stsPolicy(fmt.Sprintf("d%d.example", i))
		c.Counter(policies[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Counter(policies[i%len(policies)]).Success()
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkRecordFailure records failures with a detail already counted.
func BenchmarkRecordFailure(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	pc := c.Counter(stsPolicy("example.com"))
	d := expiredAt("198.51.100.7")
	pc.Failure(d)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pc.Failure(d)
		}
	})
}

// BenchmarkReports10000 makes the reports of one day for 10 000 policy
// domains (each one STS policy with 1000 successful sessions and two
// failure details) from a MemoryStore, as a reporting job does once a
// day: "build" runs Collector.Reports, "build+gzip" also gzip-encodes every
// report as Sender.Send does (reusing pooled Encoders; a new compressor per
// report, as one-shot EncodeGzip sets up, is more than ten times slower). Each
// reports the time for all 10 000 (ns/op) and
// the peak heap in use meanwhile (sampled every 200 µs; the store's own
// data, heap-before-MB, is part of it).
func BenchmarkReports10000(b *testing.B) {
	ctx := context.Background()
	clock := newTestClock(day1.Add(12 * time.Hour))
	c := &Collector{OrganizationName: "Sender Mail", ContactInfo: "mailto:tlsrpt@sender.example", Now: clock.Now}
	const domains = 10000
	for i := range domains {
		pc := c.Counter(stsPolicy(fmt.Sprintf("d%05d.example", i)))
		for range 1000 {
			pc.Success()
		}
		pc.Failure(expiredAt("198.51.100.7"))
		pc.Failure(expiredAt(fmt.Sprintf("2001:db8::%x", i)))
	}
	if err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	clock.Set(day2)

	for _, encode := range []bool{false, true} {
		name := "build"
		if encode {
			name = "build+gzip"
		}
		b.Run(name, func(b *testing.B) {
			var (
				s   Sender
				out int64
			)
			base, peak := watchHeap(b, func() {
				for b.Loop() {
					reps, err := c.Reports(ctx, day1)
					if err != nil || len(reps) != domains {
						b.Fatalf("%d reports, %v", len(reps), err)
					}
					for _, r := range reps {
						if !encode {
							continue
						}
						body, err := s.gzipReport(r)
						if err != nil {
							b.Fatal(err)
						}
						out += int64(len(body))
					}
				}
			})
			if encode {
				b.ReportMetric(float64(out)/float64(b.N)/domains, "gzip-bytes/report")
			}
			b.ReportMetric(base, "heap-before-MB")
			b.ReportMetric(peak, "peak-heap-MB")
		})
	}
}

// watchHeap runs f, sampling the heap in use, and returns it before f and
// at its peak, in MiB.
func watchHeap(b *testing.B, f func()) (base, peak float64) {
	runtime.GC()
	read := func(s []metrics.Sample) uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	before := read(s)
	var top atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(s); v > top.Load() {
				top.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.ReportAllocs()
	f()
	close(stop)
	<-done
	return float64(before) / (1 << 20), float64(top.Load()) / (1 << 20)
}
