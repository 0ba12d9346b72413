package policycache

import (
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// The cold store gives an evicted policy back once, as it was, while it is
// valid; an expired one is neither given back nor kept.
func TestColdStore(t *testing.T) {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.mx.example.com\nmax_age: 3600\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{refreshInterval: DefaultRefreshInterval}
	fetched := time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)
	var s coldStore
	for _, d := range []string{"a.example", "b.example"} {
		s.put(c.policyEntry(d, "id-"+d, p, fetched, ""))
	}
	if s.len() != 2 {
		t.Fatalf("%d kept, want 2", s.len())
	}

	id, got, at, ok := s.take("a.example", fetched.Add(time.Minute))
	if !ok || id != "id-a.example" || !at.Equal(fetched) || got.String() != p.String() {
		t.Fatalf("take(a) = %q, %v, %v, %v; want the policy put", id, got, at, ok)
	}
	if _, _, _, ok := s.take("a.example", fetched.Add(time.Minute)); ok {
		t.Error("a given back twice")
	}

	expired := fetched.Add(p.MaxAge)
	if _, _, _, ok := s.take("b.example", expired); ok {
		t.Error("b given back at its expiry")
	}
	s.put(c.policyEntry("b.example", "1", p, fetched, ""))
	s.prune(expired.Add(-time.Nanosecond))
	if s.len() != 1 {
		t.Errorf("prune before the expiry left %d, want 1", s.len())
	}
	s.prune(expired)
	if s.len() != 0 {
		t.Errorf("prune at the expiry left %d, want 0", s.len())
	}
}
