package policycache_test

import (
	"sync"
	"testing"

	"github.com/smtpsec/smtpsec/policycache"
)

// Recheck ignores the TXT TTL, is paced to one discovery per
// RecheckInterval, fetches only a new id, and keeps the fetch back-off.
func TestRecheck(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	c := w.Cache(t, w.Config())
	lookup(t, c, "example.com")
	txt := "_mta-sts.example.com"
	counts := func(what string, queries, fetches int) {
		t.Helper()
		if q, f := w.DNS.Queries(txt), w.Host.Requests("example.com"); q != queries || f != fetches {
			t.Errorf("%s: %d TXT queries, %d fetches; want %d, %d", what, q, f, queries, fetches)
		}
	}
	recheck := func() policycache.Result {
		t.Helper()
		res, err := c.Recheck(ctx, "Example.COM.")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := recheck()
	counts("first recheck, TTL not over", 2, 1)
	if res.ID != "1" || !res.Fresh || !res.FromCache {
		t.Errorf("confirmed policy: %+v", summarize(res))
	}
	recheck()
	counts("second recheck at once: paced", 2, 1)

	// The domain moves its mail: a new id, a new MX.
	w.Publish("example.com", "2", enforceNewMX)
	if res := lookup(t, c, "example.com"); res.ID != "1" {
		t.Errorf("Lookup within the TTL: id %s", res.ID)
	}
	if res := recheck(); res.ID != "1" {
		t.Errorf("paced recheck: id %s", res.ID)
	}
	w.Clock.Advance(policycache.RecheckInterval)
	if res := recheck(); res.ID != "2" || !res.AllowsMX("mx2.example.com") || res.FromCache {
		t.Errorf("recheck after the interval: %+v", summarize(res))
	}
	counts("new id", 3, 2)

	// Concurrent rechecks share one discovery.
	w.Publish("example.com", "3", enforcePolicy)
	w.Clock.Advance(policycache.RecheckInterval)
	release := w.Host.Hold()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if res, err := c.Recheck(ctx, "example.com"); err != nil || res.ID != "3" {
				t.Errorf("concurrent recheck: %+v %v", summarize(res), err)
			}
		})
	}
	w.Host.WaitRequests("example.com", 3)
	release()
	wg.Wait()
	counts("50 concurrent rechecks", 4, 3)

	// A failing policy host is not fetched again before FetchBackoff.
	w.DNS.SetTXT(txt, 300, "v=STSv1; id=4;")
	w.Host.Set("example.com", site{Status: 500})
	w.Clock.Advance(policycache.RecheckInterval)
	if res := recheck(); res.ID != "3" || res.Failure == "" {
		t.Errorf("failed fetch of a new id: %+v", summarize(res))
	}
	w.Clock.Advance(policycache.RecheckInterval)
	recheck()
	counts("recheck within the fetch back-off", 6, 4)
	w.Clock.Advance(policycache.DefaultFetchBackoff)
	recheck()
	counts("recheck after the fetch back-off", 7, 5)
}

func TestRecheckErrors(t *testing.T) {
	w := newWorld(t)
	c := w.Cache(t, w.Config())
	if _, err := c.Recheck(ctx, "bad domain"); err == nil {
		t.Error("invalid domain accepted")
	}
	c.Close()
	if _, err := c.Recheck(ctx, "example.com"); err != policycache.ErrClosed {
		t.Errorf("after Close: %v", err)
	}
}
