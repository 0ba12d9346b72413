package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

var testPolicy = tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: "example.com",
	PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"}, MXHost: []string{"mx.example.com"}}

// lostAck is a BatchStore whose first AddBatch reaches Redis but whose
// acknowledgement is lost, as when a reply times out.
type lostAck struct {
	*redisstore.ResultStore
	mu    sync.Mutex
	calls []string // ids, in order
}

var errLostAck = errors.New("i/o timeout (the reply was lost)")

func (s *lostAck) AddBatch(ctx context.Context, id string, day time.Time, results []tlsrpt.PolicyResult) error {
	err := s.ResultStore.AddBatch(ctx, id, day, results)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, id)
	if err == nil && len(s.calls) == 1 {
		return errLostAck
	}
	return err
}

// A Flush whose acknowledgement is lost is retried by the next Flush with
// the same batch and id, and Redis counts it once; what was recorded in
// between follows in a batch of its own.
func TestFlushRetryAfterLostAck(t *testing.T) {
	ctx := context.Background()
	store := &lostAck{ResultStore: redisstore.NewResultStore(client(t, shared.Addr), prefix(t), 0, nil)}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{Store: store, Now: func() time.Time { return now }}
	pc := c.Counter(testPolicy)
	for range 7 {
		pc.Success()
	}
	pc.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), ReceivingMXHostname: "mx.example.com"})
	if err := c.Flush(ctx); !errors.Is(err, errLostAck) {
		t.Fatalf("first Flush: %v, want the lost acknowledgement", err)
	}
	pc.Success()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.calls) != 3 || store.calls[0] != store.calls[1] || store.calls[2] == store.calls[0] {
		t.Fatalf("batch ids sent: %v, want the first one twice, then a new one", store.calls)
	}
	got, err := store.Results(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Summary.TotalSuccessfulSessionCount != 8 || got[0].Summary.TotalFailureSessionCount != 1 ||
		len(got[0].FailureDetails) != 1 || got[0].FailureDetails[0].FailedSessionCount != 1 {
		t.Fatalf("stored %+v, want 8 successes and 1 failure", got)
	}
	// The same batch added once more, as a late duplicate, changes nothing.
	if err := store.ResultStore.AddBatch(ctx, store.calls[0], now, got); err != nil {
		t.Fatal(err)
	}
	again, _ := store.Results(ctx, now)
	if again[0].Summary != got[0].Summary {
		t.Errorf("duplicate batch counted: %+v", again[0].Summary)
	}
}

// Results returns what Add stored, policies and details intact; Days and
// Delete work on whole days.
func TestResultStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := redisstore.NewResultStore(client(t, shared.Addr), prefix(t), 0, nil)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d := tlsrpt.FailureDetail{ResultType: tlsrpt.ResultSTARTTLSNotSupported, SendingMTAIP: netip.MustParseAddr("2001:db8::1"),
		ReceivingMXHostname: "mx.example.com", ReceivingIP: netip.MustParseAddr("192.0.2.7"), FailedSessionCount: 3,
		FailureReasonCode: "no STARTTLS", AdditionalInformation: "https://example.com/why"}
	in := []tlsrpt.PolicyResult{{Policy: testPolicy, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 5, TotalFailureSessionCount: 3},
		FailureDetails: []tlsrpt.FailureDetail{d}}}
	for range 2 {
		if err := s.Add(ctx, day.Add(time.Hour), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(ctx, day.AddDate(0, 0, -1), in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Results(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	d.FailedSessionCount = 6
	if len(got) != 1 || fmt.Sprint(got[0].Policy) != fmt.Sprint(testPolicy) ||
		got[0].Summary != (tlsrpt.Summary{TotalSuccessfulSessionCount: 10, TotalFailureSessionCount: 6}) ||
		len(got[0].FailureDetails) != 1 || got[0].FailureDetails[0] != d {
		t.Fatalf("Results = %+v", got)
	}
	days, err := s.Days(ctx)
	if err != nil || len(days) != 2 || !days[0].Equal(day.AddDate(0, 0, -1)) || !days[1].Equal(day) {
		t.Fatalf("Days = %v, %v", days, err)
	}
	if err := s.Delete(ctx, day); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Results(ctx, day); err != nil || len(got) != 0 {
		t.Fatalf("after Delete: %v, %v", got, err)
	}
	if days, _ := s.Days(ctx); len(days) != 1 {
		t.Fatalf("after Delete: days %v", days)
	}
	if err := s.Add(ctx, day, []tlsrpt.PolicyResult{{Policy: testPolicy, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: -1}}}); err == nil {
		t.Error("negative count accepted")
	}
	if err := s.AddBatch(ctx, "bad id!", day, in); err == nil || !strings.Contains(err.Error(), "invalid batch id") {
		t.Errorf("AddBatch with a bad id: %v", err)
	}
}

// The cap on distinct failure details holds for the fleet: two MTAs with
// different details each stay under the cap alone, and Redis folds what
// goes beyond it together, keeping every session counted.
func TestFailureDetailCapFleetWide(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	pfx := prefix(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const limit = 4
	for m := range 2 {
		c := &tlsrpt.Collector{Store: redisstore.NewResultStore(rc, pfx, limit, discard()), MaxFailureDetails: limit, Now: func() time.Time { return now }}
		pc := c.Counter(testPolicy)
		for i := range limit {
			pc.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"),
				ReceivingIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10*m + i)})})
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if c.Overflow() != 0 {
			t.Fatalf("MTA %d folded locally", m)
		}
	}
	got, err := redisstore.NewResultStore(rc, pfx, limit, nil).Results(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var regular, folded, total int64
	for _, d := range got[0].FailureDetails {
		total += d.FailedSessionCount
		if d.FailureReasonCode == tlsrpt.ReasonDetailLimit {
			folded += d.FailedSessionCount
		} else {
			regular++
		}
	}
	if regular != limit || folded != limit || total != 2*limit || got[0].Summary.TotalFailureSessionCount != 2*limit {
		t.Errorf("%d regular details, %d sessions folded, %d in details, summary %d; want %d, %d, %d, %d",
			regular, folded, total, got[0].Summary.TotalFailureSessionCount, limit, limit, 2*limit, 2*limit)
	}
}

// A Flush of many policies is one round trip to Redis: one EVALSHA (after
// the first, which may find the script not loaded yet and send it).
func TestFlushIsOneRoundTrip(t *testing.T) {
	rc := client(t, shared.Addr)
	trips := new(roundTrips)
	rc.AddHook(trips)
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{Store: redisstore.NewResultStore(rc, prefix(t), 0, nil), Now: func() time.Time { return now }}
	for round := range 3 {
		for i := range 1000 {
			p := testPolicy
			p.Domain = fmt.Sprintf("d%d.example", i)
			c.Counter(p).Success()
		}
		trips.reset()
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := trips.list(); round > 0 && (len(got) != 1 || got[0] != "evalsha") {
			t.Errorf("Flush %d of 1000 policies: round trips %v, want [evalsha]", round+1, got)
		}
	}
}

// roundTrips is a go-redis hook that notes each round trip: the name of a
// command sent alone, "pipeline" for a pipeline.
type roundTrips struct {
	mu    sync.Mutex
	trips []string
}

func (r *roundTrips) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, s)
}

func (r *roundTrips) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = nil
}

func (r *roundTrips) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.trips...)
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.note(cmd.Name())
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.note("pipeline")
		return next(ctx, cmds)
	}
}
