package policycache_test

import (
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Cached policies are fetched again in the background before they expire
// (RFC 8461 §3.3): RefreshInterval after the fetch (default one day, less
// up to a tenth), even when the id is unchanged, which restarts max_age.
func TestRefreshFetchesAgain(t *testing.T) {
	w := newWorld(t)
	c := publishAndCache(t, w, w.Config()) // max_age one week
	fetched := w.Clock.Now()

	w.Clock.Advance(21 * time.Hour) // before any jittered refresh time
	c.Maintain()
	if n := w.Host.Requests("example.com"); n != 1 {
		t.Fatalf("refreshed after 21 h: %d fetches", n)
	}

	w.Clock.Advance(3 * time.Hour)
	c.Maintain()
	if n := w.Host.Requests("example.com"); n != 2 {
		t.Fatalf("after 24 h: %d fetches, want 2", n)
	}
	res := lookup(t, c, "example.com")
	check(t, "after refresh", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	if want := fetched.Add(24*time.Hour + 7*24*time.Hour); !res.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", res.Expires, want)
	}
}

// A refresh picks up a new id, and half of max_age is the refresh time of
// short-lived policies.
func TestRefreshShortMaxAge(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", testingPolicy) // max_age one day
	c := w.Cache(t, w.Config())
	lookup(t, c, "example.com")

	w.Publish("example.com", "2", enforcePolicy)
	w.Clock.Advance(12 * time.Hour)
	c.Maintain()
	if n := w.Host.Requests("example.com"); n != 2 {
		t.Fatalf("after half of max_age: %d fetches, want 2", n)
	}
	check(t, "refreshed", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "2", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
}

// A failed refresh never drops the cached policy; it is logged as an
// alert, and tried again after FetchBackoff.
func TestRefreshFailureKeepsPolicy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		breakIt func(w *world)
		alert   string
	}{
		{"policy host down", func(w *world) { w.Host.Set("example.com", site{Status: 503}) }, "refresh failed"},
		{"TXT record gone", func(w *world) { w.DNS.Remove("_mta-sts.example.com") }, "TXT record not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := publishAndCache(t, w, w.Config())
			tt.breakIt(w)
			w.Clock.Advance(24 * time.Hour)
			c.Maintain()
			if n := w.Logs.Count("level=ERROR", tt.alert, "domain=example.com"); n != 1 {
				t.Errorf("%d alerts, want 1:\n%s", n, w.Logs)
			}
			res := lookup(t, c, "example.com")
			if res.Policy == nil || res.ID != "1" || res.Failure != "" {
				t.Errorf("after the failed refresh: %+v", summarize(res))
			}

			// Not again within FetchBackoff, then again.
			conns, queries := w.Host.Connections("example.com"), w.DNS.Queries("_mta-sts.example.com")
			w.Clock.Advance(4 * time.Minute)
			c.Maintain()
			if w.Host.Connections("example.com") != conns || w.DNS.Queries("_mta-sts.example.com") != queries {
				t.Error("refresh retried within FetchBackoff")
			}
			w.Clock.Advance(time.Minute)
			c.Maintain()
			if n := w.Logs.Count("level=ERROR", tt.alert); n != 2 {
				t.Errorf("%d alerts after the retry, want 2:\n%s", n, w.Logs)
			}
		})
	}
}

// Under mode none, refresh failures are not alerts (RFC 8461 §3.3).
func TestRefreshFailureModeNoneNoAlert(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", nonePolicy)
	c := w.Cache(t, w.Config())
	lookup(t, c, "example.com")
	w.Host.Set("example.com", site{Status: 503})
	w.Clock.Advance(12 * time.Hour)
	c.Maintain()
	if w.Host.Requests("example.com") != 2 {
		t.Fatalf("%d fetches, want 2", w.Host.Requests("example.com"))
	}
	if n := w.Logs.Count("level=ERROR"); n != 0 {
		t.Errorf("alerts under mode none:\n%s", w.Logs)
	}
}

// Domains without a policy are forgotten once their negative entry and
// any fetch back-off have run out; cached policies stay until they expire.
func TestMaintainForgets(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", testingPolicy) // max_age one day
	w.DNS.SetTXT("_mta-sts.broken.example", 3600, "v=STSv1; id=1")
	w.Host.Set("broken.example", site{Status: 500})
	w.DNS.Set("_mta-sts.absent.example", zoneAnswer{NegTTL: 3600}) // remembered for NegativeTTL
	cfg := w.Config()
	cfg.DisableRefresh = true
	c := w.Cache(t, cfg)
	lookup(t, c, "example.com")
	lookup(t, c, "absent.example")
	lookup(t, c, "broken.example")
	if n := c.Len(); n != 3 {
		t.Fatalf("%d domains, want 3", n)
	}

	w.Clock.Advance(4 * time.Minute)
	c.Maintain()
	if n := c.Len(); n != 3 {
		t.Errorf("after 4 minutes: %d domains, want 3", n)
	}
	w.Clock.Advance(time.Minute) // negative entry (5 min) and back-off over
	c.Maintain()
	if n := c.Len(); n != 1 {
		t.Errorf("after 5 minutes: %d domains, want 1", n)
	}
	w.Clock.Advance(24 * time.Hour)
	c.Maintain()
	if n := c.Len(); n != 0 {
		t.Errorf("after expiry: %d domains, want 0", n)
	}
	// A forgotten domain is looked up afresh.
	check(t, "example.com again", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeTesting, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
}

// The background loop itself runs the refreshes, and stops on Close.
func TestRefreshLoop(t *testing.T) {
	w := newWorld(t)
	cfg := w.Config()
	cfg.DisableRefresh = false
	cfg.RefreshInterval = 80 * time.Millisecond // the loop ticks every 10 ms
	c := publishAndCache(t, w, cfg)

	w.Clock.Advance(time.Minute) // by the cache's clock, the refresh is due
	done := make(chan struct{})
	go func() {
		w.Host.WaitRequests("example.com", 2)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not refresh the policy")
	}
	c.Close()
}
