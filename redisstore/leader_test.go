package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// DayLeader is the fleet's tlsrpt.DayLeader (Outbox.Leader).
var _ tlsrpt.DayLeader = (*redisstore.DayLeader)(nil)

// Two MTAs run the daily job at the same instant: one leads, makes one
// report per domain from both MTAs' counts and enqueues them; the other
// sees the job taken or done and makes none.
func TestLeaderOneReportPerDomain(t *testing.T) {
	ctx := context.Background()
	rc := client(t, sharedAddr)
	pfx := prefix(t)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := world.NewClock(day.Add(12 * time.Hour))
	var mu sync.Mutex
	var outbox []*tlsrpt.Report
	start := make(chan struct{})
	var wg sync.WaitGroup
	for m := range 2 {
		c := &tlsrpt.Collector{OrganizationName: "Fleet", ContactInfo: "mailto:tlsrpt@fleet.example",
			Store: redisstore.NewResultStore(rc, pfx, 0, nil), Now: clock.Now}
		for _, d := range fleetDomains {
			pc := c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: d})
			for range m + 1 {
				pc.Success()
			}
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := redisstore.NewDayLeader(rc, pfx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			ok, err := l.Lead(ctx, day)
			if err != nil || !ok {
				if err != nil {
					t.Error(err)
				}
				return
			}
			reports, err := c.Reports(ctx, day)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			outbox = append(outbox, reports...)
			mu.Unlock()
			if err := l.Done(ctx, day); err != nil {
				t.Error(err)
			}
		})
	}
	clock.Advance(13 * time.Hour) // the day is over for both
	close(start)
	wg.Wait()
	if len(outbox) != len(fleetDomains) {
		t.Fatalf("%d reports enqueued, want one per domain (%d)", len(outbox), len(fleetDomains))
	}
	for _, r := range outbox {
		if n := r.Policies[0].Summary.TotalSuccessfulSessionCount; n != 3 {
			t.Errorf("%s: %d sessions, want 3 (1 + 2 from the two MTAs)", r.Policies[0].Policy.Domain, n)
		}
	}
	late, _ := redisstore.NewDayLeader(rc, pfx, time.Minute)
	if ok, err := late.Lead(ctx, day); ok || err != nil {
		t.Errorf("Lead after Done = %v, %v; want false", ok, err)
	}
}

// A leader that crashes blocks the day only until its lease runs out;
// then another MTA leads. A leader asking again extends its own lease.
func TestLeaderLeaseExpires(t *testing.T) {
	ctx := context.Background()
	rc := client(t, sharedAddr)
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
