package tlsrpt

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// benchReports is the number of reports of one BenchmarkOutbox operation.
const benchReports = 10000

// BenchmarkOutbox: one operation enqueues 10 000 reports (each of its own
// policy domain, with its own TLS-RPT record on a real DNS server) in a
// DirOutbox and delivers them, first attempt, by POST to a real loopback
// HTTPS receiver running a Handler. Every Put is fsynced. It reports
// reports/s and allocs/report (client and server side of the process).
func BenchmarkOutbox(b *testing.B) {
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
		o := &Outbox{Store: DirOutbox(b.TempDir()), Sender: &Sender{HTTPClient: client}, Resolver: dns.resolver(),
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
