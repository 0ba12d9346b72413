package redisstore_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Redis stops in the middle of the MTAs' work and comes back: lookups go
// on answering (from memory, and from the network for an MTA started
// during the outage), flushes fail and are retried, and once Redis is
// back every session recorded is counted exactly once.
func TestRedisStoppedAndRestarted(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { rc.Close() })
	w := newFleetWorld(t, time.Now())
	day := w.Clock.Now()
	cache := w.cache(t, redisstore.NewPolicyStore(rc, ""), w.Clock.Now, discard())
	col := &tlsrpt.Collector{Store: redisstore.NewResultStore(rc, "", 0, nil), Now: func() time.Time { return day }, Logger: discard()}
	pc := col.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: world.Domain, PolicyString: []string{"version: STSv1", "mode: testing"}})

	lookup := func(what string) {
		t.Helper()
		res, err := cache.Lookup(ctx, world.Domain)
		if err != nil || res.Policy == nil {
			t.Fatalf("%s: Lookup = %+v, %v", what, res, err)
		}
	}
	lookup("before the outage")
	for range 10 {
		pc.Success()
	}
	if err := col.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Written to its directory, as a restarted Redis with persistence
	// would have it.
	if err := srv.StopSaving(); err != nil {
		t.Fatal(err)
	}
	lookup("hit during the outage")
	w.Clock.Advance(10 * time.Minute) // past the TXT TTL: a DNS check, no Redis needed
	lookup("TXT check during the outage")
	late := w.cache(t, redisstore.NewPolicyStore(rc, ""), w.Clock.Now, discard())
	if res, err := late.Lookup(ctx, world.Domain); err != nil || res.Policy == nil {
		t.Fatalf("MTA started during the outage: Lookup = %+v, %v", res, err)
	}
	for range 20 {
		pc.Success()
	}
	for range 5 {
		pc.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), ReceivingMXHostname: world.MX2})
	}
	flushing, stop := context.WithCancel(ctx)
	loop := make(chan error, 1)
	go func() { loop <- col.FlushEvery(flushing, 5*time.Millisecond) }()
	for range 3 {
		if err := col.Flush(ctx); err == nil {
			t.Fatal("Flush succeeded with Redis stopped")
		}
	}
	pc.Success()

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-loop; err != nil {
		t.Fatalf("the last Flush of FlushEvery, Redis back: %v", err)
	}
	if err := col.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := redisstore.NewResultStore(rc, "", 0, nil).Results(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Summary != (tlsrpt.Summary{TotalSuccessfulSessionCount: 31, TotalFailureSessionCount: 5}) {
		t.Fatalf("after the outage the store has %+v, want 31 successes and 5 failures", got)
	}
	if w.fetches.Load() != 2 {
		t.Errorf("%d fetches, want 2 (the first MTA, and the one started during the outage)", w.fetches.Load())
	}
	lookup("after the outage")
	if err := rc.Get(ctx, "policy:"+world.Domain).Err(); errors.Is(err, redis.Nil) {
		t.Error("the stored policy did not survive the restart")
	}
}
