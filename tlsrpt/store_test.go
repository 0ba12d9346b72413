package tlsrpt

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// testResultStore checks the ResultStore contract on an empty store.
func testResultStore(t *testing.T, s ResultStore) {
	ctx := context.Background()
	if rs, err := s.Results(ctx, day1); err != nil || len(rs) != 0 {
		t.Fatalf("empty store: Results = %+v, %v", rs, err)
	}
	if days, err := s.Days(ctx); err != nil || len(days) != 0 {
		t.Fatalf("empty store: Days = %v, %v", days, err)
	}

	d := expiredAt("198.51.100.7")
	d.FailedSessionCount = 2
	a := PolicyResult{Policy: stsPolicy("example.com"), Summary: Summary{3, 2}, FailureDetails: []FailureDetail{d}}
	// The same policy and detail, written differently.
	b := PolicyResult{Policy: stsPolicy("example.com"), Summary: Summary{1, 2}}
	b.Policy.Domain = "Example.COM."
	d2 := d
	d2.ReceivingMXHostname = "MX1.example.com."
	d2.FailedSessionCount = 1
	other := expiredAt("198.51.100.8")
	other.FailedSessionCount = 1
	b.FailureDetails = []FailureDetail{d2, other}
	c := PolicyResult{Policy: AppliedPolicy{Type: PolicyNotFound, Domain: "b.example"}, Summary: Summary{7, 0}}

	for _, add := range []struct {
		day time.Time
		rs  []PolicyResult
	}{
		{day1.Add(5 * time.Hour), []PolicyResult{a}}, // any time of the day names the day
		{day2, []PolicyResult{c}},
		{day1, []PolicyResult{b}},
		{day3, nil}, // nothing to add: no day
	} {
		if err := s.Add(ctx, add.day, add.rs); err != nil {
			t.Fatalf("Add(%v): %v", add.day, err)
		}
	}
	neg := c
	neg.Summary.TotalSuccessfulSessionCount = -1
	if err := s.Add(ctx, day2, []PolicyResult{c, neg}); err == nil {
		t.Error("Add with a negative count succeeded")
	}

	rs, err := s.Results(ctx, day1.Add(23*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d.FailedSessionCount = 3
	want := []PolicyResult{{Policy: stsPolicy("example.com"), Summary: Summary{4, 4}, FailureDetails: []FailureDetail{d, other}}}
	if fmt.Sprintf("%+v", rs) != fmt.Sprintf("%+v", want) {
		t.Errorf("Results(day1)\n got %+v\nwant %+v", rs, want)
	}
	rs, err = s.Results(ctx, day2)
	if err != nil || len(rs) != 1 || rs[0].Summary != (Summary{7, 0}) {
		t.Errorf("Results(day2) = %+v, %v; the failed Add must store nothing", rs, err)
	}
	days, err := s.Days(ctx)
	if err != nil || len(days) != 2 || !days[0].Equal(day1) || !days[1].Equal(day2) {
		t.Errorf("Days = %v, %v; want [%v %v]", days, err, day1, day2)
	}

	// Results are copies: changing them does not change the store.
	rs[0].Policy.Domain = "changed"
	if again, _ := s.Results(ctx, day2); again[0].Policy.Domain != "b.example" {
		t.Error("Results shares memory with the store")
	}

	if err := s.Delete(ctx, day1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, day1); err != nil {
		t.Errorf("deleting a deleted day: %v", err)
	}
	if rs, err := s.Results(ctx, day1); err != nil || len(rs) != 0 {
		t.Errorf("after Delete: %+v, %v", rs, err)
	}
	if days, _ := s.Days(ctx); len(days) != 1 || !days[0].Equal(day2) {
		t.Errorf("Days after Delete = %v", days)
	}

	// Concurrent adds sum exactly.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				r := PolicyResult{
					Policy:  stsPolicy("example.com"),
					Summary: Summary{1, 1},
					FailureDetails: []FailureDetail{{
						ResultType:         ResultSTARTTLSNotSupported,
						ReceivingIP:        netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 3)}),
						FailedSessionCount: 1,
					}},
				}
				if err := s.Add(ctx, day3, []PolicyResult{r}); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	rs, err = s.Results(ctx, day3)
	if err != nil || len(rs) != 1 || rs[0].Summary != (Summary{200, 200}) || len(rs[0].FailureDetails) != 3 {
		t.Fatalf("after concurrent adds: %+v, %v", rs, err)
	}
	var sum int64
	for _, d := range rs[0].FailureDetails {
		sum += d.FailedSessionCount
	}
	if sum != 200 {
		t.Errorf("details sum to %d, want 200", sum)
	}
}

func TestMemoryStore(t *testing.T) {
	testResultStore(t, new(MemoryStore))
}
