package tlsrpt

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchReports is the number of reports of one BenchmarkOutbox operation.
const benchReports = 10000

// BenchmarkOutbox: one operation enqueues 10 000 reports (each of its own
// policy domain, with its own TLS-RPT record on a real DNS server) and
// delivers them, first attempt, by POST to a real loopback HTTPS receiver
// running a Handler. It reports reports/s and allocs/report (client and
// server side of the process). With "dir" the outbox is a DirOutbox, every
// Put fsynced; "memory" keeps it in a map, to show what is not the disk.
func BenchmarkOutbox(b *testing.B) {
	b.Run("dir", func(b *testing.B) { benchmarkOutbox(b, func() OutboxStore { return DirOutbox(b.TempDir()) }) })
	b.Run("memory", func(b *testing.B) { benchmarkOutbox(b, func() OutboxStore { return new(memOutbox) }) })
}

// memOutbox is an OutboxStore in memory.
type memOutbox struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memOutbox) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, ErrNotInOutbox
	}
	return v, nil
}

func (s *memOutbox) Put(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[key] = bytes.Clone(value)
	return nil
}

func (s *memOutbox) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memOutbox) Keys(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func benchmarkOutbox(b *testing.B, store func() OutboxStore) {
	ca := newDeliveryCA(b)
	var accepted atomic.Int64
	srv, client := ca.httpsServer(b, &Handler{Logger: discardLogger(), Report: func(context.Context, *Report) error {
		accepted.Add(1)
		return nil
	}})
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = DefaultOutboxWorkers
	zone := make(map[string]txtAnswer, benchReports)
	base := collectedReport(b)
	reports := make([]*Report, benchReports)
	for i := range reports {
		d := fmt.Sprintf("d%05d.example", i)
		zone["_smtp._tls."+d+"."] = txtAnswer{txt: [][]string{{"v=TLSRPTv1; rua=" + srv.URL + "/v1"}}}
		r := *base
		r.ReportID = reportID(dayNumber(day1), d, "sender.example")
		r.Policies = []PolicyResult{base.Policies[0]}
		r.Policies[0].Policy = stsPolicy(d)
		reports[i] = &r
	}
	dns := startDNS(b, zone)
	ctx := context.Background()
	clock := newTestClock(day2.Add(time.Hour))
	b.ReportAllocs()
	var mallocs uint64
	var elapsed time.Duration
	for b.Loop() {
		o := &Outbox{Store: store(), Sender: &Sender{HTTPClient: client}, Resolver: dns.resolver(),
			StartWindow: -1, Now: clock.Now, Logger: discardLogger()}
		accepted.Store(0)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		for _, r := range reports {
			if err := o.Enqueue(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		if next, err := o.RunOnce(ctx); err != nil || !next.IsZero() {
			b.Fatalf("RunOnce = %v, %v", next, err)
		}
		elapsed += time.Since(t0)
		runtime.ReadMemStats(&m1)
		mallocs += m1.Mallocs - m0.Mallocs
		if n := accepted.Load(); n != benchReports {
			b.Fatalf("%d reports accepted, want %d", n, benchReports)
		}
	}
	b.ReportMetric(float64(b.N*benchReports)/elapsed.Seconds(), "reports/s")
	b.ReportMetric(float64(mallocs)/float64(b.N*benchReports), "allocs/report")
}
