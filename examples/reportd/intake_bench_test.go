package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// memoryIntake is an intake without a data directory.
func memoryIntake() *intake {
	return &intake{store: newStore("", 1<<20, 1<<40), agg: newAggregate(2), now: testNow}
}

// BenchmarkTake: decoding, checking, keeping and counting one gzip
// report (without the disk), the work of every POST.
func BenchmarkTake(b *testing.B) {
	in := memoryIntake()
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i] = gzipReport(b, variedReport(i, testNow().Truncate(24*time.Hour)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		raw := bodies[i%len(bodies)]
		if i >= len(bodies) {
			// A new report-id each time, so that nothing is a duplicate.
			r := variedReport(i, testNow().Truncate(24*time.Hour))
			b.StopTimer()
			raw = gzipReport(b, r)
			b.StartTimer()
		}
		if _, err := in.take(raw, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot: the summary of 1000 reports over 7 domains, as
// GET / and GET /api/summary compute it.
func BenchmarkSnapshot(b *testing.B) {
	in := memoryIntake()
	for i := range 1000 {
		if _, err := in.take(gzipReport(b, variedReport(i, testNow().Truncate(24*time.Hour))), false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		in.agg.snapshot(testNow(), 1000, 0)
	}
}

// FuzzTake: whatever the body, intake answers without panicking, and
// what it stores passes its own checks.
func FuzzTake(f *testing.F) {
	r := testingReport("seed", 3)
	f.Add(gzipReport(f, r))
	b, _ := r.MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"organization-name":"A","report-id":"x","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":-1,"total-failure-session-count":0}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in := memoryIntake()
		in.decoder = tlsrpt.Decoder{MaxCompressedSize: 1 << 16, MaxReportSize: 1 << 16}
		out, err := in.take(body, false)
		if err != nil {
			return
		}
		if out.info.Successful < 0 || out.info.Failed < 0 {
			t.Fatalf("stored negative counts: %+v", out.info)
		}
		var buf bytes.Buffer
		writeText(&buf, in.agg.snapshot(testNow(), 1, int64(len(body))))
		if bytes.ContainsAny(buf.Bytes(), "\x1b\r") {
			t.Fatalf("raw control characters in %q", buf.String())
		}
		if err := renderDashboard(&buf, in.agg.snapshot(testNow(), 1, 0), testNow()); err != nil {
			t.Fatal(fmt.Errorf("dashboard: %w", err))
		}
	})
}
