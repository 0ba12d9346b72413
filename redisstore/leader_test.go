package redisstore_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// DayLeader is the fleet's tlsrpt.DayLeader (Outbox.Leader).
var _ tlsrpt.DayLeader = (*redisstore.DayLeader)(nil)

// Two MTAs run the daily job, tlsrpt.Outbox.RunOnce, at the same instant
// against one Redis, each with its own Collector on a shared ResultStore,
// its own outbox directory and its own DayLeader: the fleet enqueues and
// delivers exactly one report per policy domain, carrying both MTAs'
// counts. Run again later, neither makes another.
func TestLeaderOneReportPerDomain(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	pfx := prefix(t)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	w, err := world.New(day.Add(12 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	for _, d := range fleetDomains {
		// The world's receiver, tlsrpt.example.com, takes the reports.
		w.DNS.SetTXT("_smtp._tls."+d, world.TTL, "v=TLSRPTv1; rua=https://"+world.ReportHost+"/v1/tlsrpt")
	}
	var outboxes []*tlsrpt.Outbox
	for m := range 2 {
		c := &tlsrpt.Collector{OrganizationName: "Fleet", ContactInfo: "mailto:tlsrpt@fleet.example",
			Store: redisstore.NewResultStore(rc, pfx, 0, nil), Now: w.Clock.Now, Logger: discard()}
		for _, d := range fleetDomains {
			pc := c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: d, PolicyString: []string{"version: STSv1", "mode: testing"}})
			for range m + 1 {
				pc.Success()
			}
			pc.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultCertificateExpired,
				SendingMTAIP: netip.MustParseAddr("192.0.2.1"), ReceivingMXHostname: world.MX2})
		}
		// The MTAs flush every few minutes; the last flush of the day
		// is done before the daily job (tlsrpt.ReportDelay).
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := redisstore.NewDayLeader(rc, pfx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		outboxes = append(outboxes, &tlsrpt.Outbox{
			Store:       tlsrpt.DirOutbox(t.TempDir()),
			Sender:      &tlsrpt.Sender{From: "tlsrpt@fleet.example", HTTPClient: w.HTTPClient(), Logger: discard()},
			Resolver:    &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: 5 * time.Second, Attempts: 2},
			Collector:   c,
			Leader:      l,
			StartWindow: -1, // deliver at once
			Now:         w.Clock.Now,
			Logger:      discard(),
		})
	}
	runAll := func() {
		t.Helper()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, o := range outboxes {
			wg.Go(func() {
				<-start
				if _, err := o.RunOnce(ctx); err != nil {
					t.Errorf("MTA %d: RunOnce: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	w.Clock.Advance(12*time.Hour + tlsrpt.ReportDelay) // the day's reports are due
	runAll()
	w.Clock.Advance(tlsrpt.ReportDelay) // the time a non-leader looks again
	runAll()

	got := map[string]tlsrpt.Summary{}
	for _, r := range w.Reports() {
		for _, p := range r.Policies {
			if _, dup := got[p.Policy.Domain]; dup {
				t.Errorf("a second report for %s", p.Policy.Domain)
			}
			got[p.Policy.Domain] = p.Summary
		}
	}
	for _, d := range fleetDomains {
		if want := (tlsrpt.Summary{TotalSuccessfulSessionCount: 3, TotalFailureSessionCount: 2}); got[d] != want {
			t.Errorf("%s: delivered %+v, want the fleet's sums %+v (1 + 2 successes, 1 + 1 failures)", d, got[d], want)
		}
	}
	if len(got) != len(fleetDomains) {
		t.Errorf("reports for %d domains delivered, want %d", len(got), len(fleetDomains))
	}
	enqueued := 0
	for _, o := range outboxes {
		entries, err := o.Entries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		enqueued += len(entries)
	}
	if enqueued != len(fleetDomains) {
		t.Errorf("%d reports enqueued by the fleet, want one per domain (%d)", enqueued, len(fleetDomains))
	}
	late, _ := redisstore.NewDayLeader(rc, pfx, time.Minute)
	if ok, err := late.Lead(ctx, day); ok || err != nil {
		t.Errorf("Lead after the job = %v, %v; want false", ok, err)
	}
}

// A leader that crashes blocks the day only until its lease runs out;
// then another MTA leads. A leader asking again extends its own lease.
func TestLeaderLeaseExpires(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	pfx := prefix(t)
	day := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	crashed, _ := redisstore.NewDayLeader(rc, pfx, 100*time.Millisecond)
	other, _ := redisstore.NewDayLeader(rc, pfx, time.Minute)
	if ok, err := crashed.Lead(ctx, day); !ok || err != nil {
		t.Fatalf("first Lead = %v, %v", ok, err)
	}
	if ok, err := crashed.Lead(ctx, day); !ok || err != nil {
		t.Fatalf("the leader's second Lead = %v, %v", ok, err)
	}
	if ok, err := other.Lead(ctx, day); ok || err != nil {
		t.Fatalf("Lead while another leads = %v, %v", ok, err)
	}
	// Wait for Redis to expire the lease: a server-side event, observed
	// through EXISTS; the bound is only a safety net.
	for deadline := time.Now().Add(time.Minute); ; {
		if rc.Exists(ctx, pfx+"tlsrpt:2026-05-02:leader").Val() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease did not expire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, err := other.Lead(ctx, day); !ok || err != nil {
		t.Fatalf("Lead after the leader's lease ran out = %v, %v", ok, err)
	}
	if err := other.Done(ctx, day); err != nil {
		t.Fatal(err)
	}
	if ok, _ := crashed.Lead(ctx, day); ok {
		t.Error("the crashed leader leads a day that is done")
	}
}
