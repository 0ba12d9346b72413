package policycache_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

var ctx = context.Background()

func lookup(t *testing.T, c *policycache.Cache, domain string) policycache.Result {
	t.Helper()
	res, err := c.Lookup(ctx, domain)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", domain, err)
	}
	return res
}

// summary is the part of a Result that the state-machine tests compare.
type summary struct {
	Mode      mtasts.Mode // "" for no policy
	ID        string
	FromCache bool
	Fresh     bool
	Type      tlsrpt.PolicyType
	Failure   tlsrpt.ResultType
	HasErr    bool
}

func summarize(r policycache.Result) summary {
	s := summary{ID: r.ID, FromCache: r.FromCache, Fresh: r.Fresh, Type: r.AppliedPolicy.Type, Failure: r.Failure, HasErr: r.Err != nil}
	if r.Policy != nil {
		s.Mode = r.Policy.Mode
	}
	return s
}

func check(t *testing.T, what string, got policycache.Result, want summary) {
	t.Helper()
	if s := summarize(got); s != want {
		t.Errorf("%s:\n got %+v (err %v)\nwant %+v", what, s, got.Err, want)
	}
}

// RFC 8461 §5.1 with nothing cached and everything working: the policy is
// fetched, applied, and kept.
func TestNoCacheSuccess(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "20260501", enforcePolicy)
	c := w.Cache(t, w.Config())

	res := lookup(t, c, "example.com")
	check(t, "first lookup", res, summary{Mode: mtasts.ModeEnforce, ID: "20260501", Fresh: true, Type: tlsrpt.PolicySTS})
	wantReport := tlsrpt.AppliedPolicy{
		Type: tlsrpt.PolicySTS,
		PolicyString: []string{
			"version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: *.mail.example.net", "max_age: 604800",
		},
		Domain: "example.com",
		MXHost: []string{"mx1.example.com", "*.mail.example.net"},
	}
	if !reflect.DeepEqual(res.AppliedPolicy, wantReport) {
		t.Errorf("Report = %+v\nwant %+v", res.AppliedPolicy, wantReport)
	}
	if want := w.Clock.Now().Add(604800 * time.Second); !res.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", res.Expires, want)
	}
	if !res.Enforced() || res.Testing() || !res.AllowsMX("MX1.example.com.") || !res.AllowsMX("a.mail.example.net") || res.AllowsMX("mx.attacker.example") {
		t.Errorf("Enforced/Testing/AllowsMX wrong for %v", res.Policy)
	}

	// Within the TXT TTL: no network at all.
	w.Clock.Advance(299 * time.Second)
	check(t, "within TTL", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "20260501", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	if q, r := w.DNS.Queries("_mta-sts.example.com"), w.Host.Requests("example.com"); q != 1 || r != 1 {
		t.Errorf("within TTL: %d TXT queries, %d fetches; want 1, 1", q, r)
	}

	// After the TTL: the id is checked again, unchanged, so no fetch.
	w.Clock.Advance(2 * time.Second)
	check(t, "same id", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "20260501", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	if q, r := w.DNS.Queries("_mta-sts.example.com"), w.Host.Requests("example.com"); q != 2 || r != 1 {
		t.Errorf("same id: %d TXT queries, %d fetches; want 2, 1", q, r)
	}
}

// RFC 8461 §3.3 with nothing cached: every failure means no policy
// (fail-open) and, when a TXT record exists, a TLS-RPT result to record.
func TestNoCacheFailures(t *testing.T) {
	const d = "fail.example"
	tests := []struct {
		name  string
		setup func(w *world)
		want  summary
		errIs error
	}{
		{
			name:  "no TXT record (NXDOMAIN): no policy, nothing to report",
			setup: func(w *world) {},
			want:  summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound},
		},
		{
			name:  "NODATA",
			setup: func(w *world) { w.DNS.Set("_mta-sts."+d, zoneAnswer{NegTTL: 60}) },
			want:  summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound},
		},
		{
			name:  "only a non-STS TXT record",
			setup: func(w *world) { w.DNS.SetTXT("_mta-sts."+d, 300, "v=spf1 -all") },
			want:  summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound},
		},
		{
			name:  "two STS records: no available policy (§3.1)",
			setup: func(w *world) { w.DNS.SetTXT("_mta-sts."+d, 300, "v=STSv1; id=a", "v=STSv1; id=b") },
			want:  summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound, HasErr: true},
			errIs: mtasts.ErrMultipleRecords,
		},
		{
			name:  "malformed STS record",
			setup: func(w *world) { w.DNS.SetTXT("_mta-sts."+d, 300, "v=STSv1; id=2024-01-01") },
			want:  summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound, HasErr: true},
			errIs: mtasts.ErrInvalidRecord,
		},
		{
			name:  "SERVFAIL",
			setup: func(w *world) { w.DNS.Set("_mta-sts."+d, zoneAnswer{Rcode: dns.RcodeServerFailure}) },
			want:  summary{FromCache: true, Type: tlsrpt.PolicyNotFound, HasErr: true},
		},
		{
			name: "DNS timeout",
			setup: func(w *world) {
				w.DNSTimeout = 300 * time.Millisecond
				w.DNS.Set("_mta-sts."+d, zoneAnswer{Drop: true})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicyNotFound, HasErr: true},
		},
		{
			name: "policy host unreachable",
			setup: func(w *world) {
				w.Publish(d, "1", enforcePolicy)
				w.Host.Set(d, site{Unreachable: true})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true},
		},
		{
			name: "HTTP 404",
			setup: func(w *world) {
				w.Publish(d, "1", enforcePolicy)
				w.Host.Set(d, site{Status: 404})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true},
		},
		{
			name: "redirect not followed",
			setup: func(w *world) {
				w.Publish(d, "1", enforcePolicy)
				w.Host.Set(d, site{Status: 301, Location: "https://mta-sts.example.com/.well-known/mta-sts.txt"})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true},
		},
		{
			name: "text/html",
			setup: func(w *world) {
				w.Publish(d, "1", enforcePolicy)
				w.Host.Set(d, site{Policy: enforcePolicy, ContentType: "text/html"})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true},
		},
		{
			name: "invalid policy",
			setup: func(w *world) {
				w.Publish(d, "1", "version: STSv1\nmode: enforce\nmax_age: 86400\n") // no mx
			},
			want:  summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyInvalid, HasErr: true},
			errIs: mtasts.ErrInvalidPolicy,
		},
		{
			name: "certificate for another name (§3.3)",
			setup: func(w *world) {
				w.Publish(d, "1", enforcePolicy)
				w.Host.Set(d, site{Policy: enforcePolicy, CertName: d})
			},
			want: summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSWebPKIInvalid, HasErr: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			c := w.Cache(t, w.Config())
			res := lookup(t, c, d)
			check(t, "lookup", res, tt.want)
			if res.AllowsMX("mx.attacker.example") != true || res.Enforced() {
				t.Errorf("no policy, yet AllowsMX false or Enforced true")
			}
			if tt.errIs != nil && !errors.Is(res.Err, tt.errIs) {
				t.Errorf("Err = %v, want it to match %v", res.Err, tt.errIs)
			}
			if res.AppliedPolicy.Domain != d {
				t.Errorf("Report.Domain = %q", res.AppliedPolicy.Domain)
			}
		})
	}
}

// publishAndCache returns a cache that has fetched the enforce policy of
// example.com under id 1.
func publishAndCache(t *testing.T, w *world, cfg policycache.Config) *policycache.Cache {
	t.Helper()
	w.Publish("example.com", "1", enforcePolicy)
	c := w.Cache(t, cfg)
	check(t, "initial fetch", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
	return c
}

// A new id in DNS means a new policy: it is fetched and replaces the old.
func TestCacheNewIDSuccess(t *testing.T) {
	w := newWorld(t)
	c := publishAndCache(t, w, w.Config())

	w.Publish("example.com", "2", enforceNewMX)
	// Until the TXT TTL runs out the old policy is used (§8.1).
	check(t, "before TTL", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})

	w.Clock.Advance(5 * time.Minute)
	res := lookup(t, c, "example.com")
	check(t, "after TTL", res, summary{Mode: mtasts.ModeEnforce, ID: "2", Fresh: true, Type: tlsrpt.PolicySTS})
	if res.AllowsMX("mx1.example.com") || !res.AllowsMX("mx2.example.com") {
		t.Errorf("the new policy's mx list is not applied: %v", res.Policy.MX)
	}
	if n := w.Host.Requests("example.com"); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// A new id whose policy cannot be fetched, or does not parse, leaves the
// cached policy in force (fail-closed, §3.3) and reports the failure; the
// id is not fetched again for FetchBackoff (§3.3).
func TestCacheNewIDFailure(t *testing.T) {
	for _, tt := range []struct {
		name    string
		site    site
		failure tlsrpt.ResultType
	}{
		{"HTTP 500", site{Status: 500}, tlsrpt.ResultSTSPolicyFetchError},
		{"invalid policy", site{Policy: "version: STSv1\nmode: enforce\nmx: mx2.example.com\n"}, tlsrpt.ResultSTSPolicyInvalid},
		{"certificate for another name", site{Policy: enforceNewMX, CertName: "example.com"}, tlsrpt.ResultSTSWebPKIInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := publishAndCache(t, w, w.Config())

			w.DNS.SetTXT("_mta-sts.example.com", 60, "v=STSv1; id=2;")
			w.Host.Set("example.com", tt.site)
			w.Clock.Advance(301 * time.Second)
			res := lookup(t, c, "example.com")
			check(t, "failed fetch of id 2", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, Failure: tt.failure, HasErr: true})
			if !res.AllowsMX("mx1.example.com") || res.AllowsMX("mx2.example.com") {
				t.Error("the old policy is not the one applied")
			}
			if n := w.Logs.Count("level=ERROR", "keeping the cached policy", "domain=example.com"); n != 1 {
				t.Errorf("%d alerts logged, want 1:\n%s", n, w.Logs)
			}

			// The TXT record is checked again after its TTL (60 s), but id 2
			// is not fetched again within FetchBackoff (5 minutes).
			w.Clock.Advance(4 * time.Minute)
			check(t, "in back-off", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, Failure: tt.failure, HasErr: true})
			if q, n := w.DNS.Queries("_mta-sts.example.com"), w.Host.Connections("example.com"); q != 3 || n != 2 {
				t.Errorf("in back-off: %d TXT queries, %d connections to the policy host; want 3, 2", q, n)
			}

			// After the back-off, the fixed policy host is asked again.
			w.Host.Serve("example.com", enforceNewMX)
			w.Clock.Advance(time.Minute)
			check(t, "after back-off", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "2", Fresh: true, Type: tlsrpt.PolicySTS})
			if n := w.Host.Connections("example.com"); n != 3 {
				t.Errorf("after back-off: %d connections, want 3", n)
			}
		})
	}
}

// A TXT record that vanishes, becomes unusable, or cannot be looked up
// does not remove a cached policy (§3.1, §5.1).
func TestCacheTXTGone(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer *zoneAnswer // nil: NXDOMAIN
	}{
		{"NXDOMAIN", nil},
		{"NODATA", &zoneAnswer{NegTTL: 60}},
		{"two records", &zoneAnswer{TXT: [][]string{{"v=STSv1; id=1"}, {"v=STSv1; id=2"}}, TTL: 60}},
		{"malformed record", &zoneAnswer{TXT: [][]string{{"v=STSv1; id=="}}, TTL: 60}},
		{"SERVFAIL", &zoneAnswer{Rcode: dns.RcodeServerFailure}},
		{"timeout", &zoneAnswer{Drop: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.answer != nil && tt.answer.Drop {
				w.DNSTimeout = 300 * time.Millisecond
			}
			c := publishAndCache(t, w, w.Config())
			if tt.answer == nil {
				w.DNS.Remove("_mta-sts.example.com")
			} else {
				w.DNS.Set("_mta-sts.example.com", *tt.answer)
			}
			w.Clock.Advance(301 * time.Second)
			res := lookup(t, c, "example.com")
			check(t, "TXT gone", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, HasErr: true})
			if r := w.Host.Requests("example.com"); r != 1 {
				t.Errorf("%d fetches, want 1", r)
			}

			// The record comes back with the same id: fresh again, no fetch.
			w.Publish("example.com", "1", enforcePolicy)
			w.Clock.Advance(5 * time.Minute)
			check(t, "TXT back", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
			if r := w.Host.Requests("example.com"); r != 1 {
				t.Errorf("%d fetches, want 1", r)
			}
		})
	}
}

// A policy is never used past max_age (§5.1): once it expires, it is as
// if nothing was cached.
func TestCacheExpired(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", testingPolicy) // max_age 86400
	c := w.Cache(t, w.Config())
	check(t, "fetch", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeTesting, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})

	w.Host.Set("example.com", site{Status: 503})
	w.Clock.Advance(86400 * time.Second)
	check(t, "expired, fetch fails", lookup(t, c, "example.com"),
		summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true})

	w.Host.Serve("example.com", testingPolicy)
	w.Clock.Advance(5 * time.Minute)
	check(t, "expired, fetched again", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeTesting, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})

	// Expired with the TXT record gone: no policy, nothing to report.
	w.DNS.Remove("_mta-sts.example.com")
	w.Clock.Advance(86400 * time.Second)
	check(t, "expired, TXT gone", lookup(t, c, "example.com"), summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound})
}

// mode none replaces the cached policy and removes protection (§5, §8.3);
// failures under it are neither reported nor alerted (§3.3, §6).
func TestCacheModeNone(t *testing.T) {
	w := newWorld(t)
	c := publishAndCache(t, w, w.Config())

	w.Publish("example.com", "2", nonePolicy)
	w.Clock.Advance(301 * time.Second)
	res := lookup(t, c, "example.com")
	check(t, "mode none", res, summary{Mode: mtasts.ModeNone, ID: "2", Fresh: true, Type: tlsrpt.PolicyNotFound})
	if res.Enforced() || res.Testing() || !res.AllowsMX("mx.anywhere.example") {
		t.Error("mode none still protects")
	}

	w.DNS.SetTXT("_mta-sts.example.com", 300, "v=STSv1; id=3")
	w.Host.Set("example.com", site{Status: 500})
	w.Clock.Advance(301 * time.Second)
	check(t, "mode none cached, fetch fails", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeNone, ID: "2", FromCache: true, Type: tlsrpt.PolicyNotFound, HasErr: true})
	if n := w.Logs.Count("level=ERROR"); n != 0 {
		t.Errorf("alerts logged under mode none:\n%s", w.Logs)
	}
}

// max_age 0 applies the policy to the delivery at hand and keeps nothing.
func TestCacheMaxAgeZero(t *testing.T) {
	w := newWorld(t)
	store := new(policycache.MemoryStore)
	cfg := w.Config()
	cfg.Store = store
	w.Publish("example.com", "1", "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 0\n")
	c := w.Cache(t, cfg)
	for i := 1; i <= 2; i++ {
		check(t, "lookup", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
		if r := w.Host.Requests("example.com"); r != i {
			t.Errorf("%d fetches, want %d", r, i)
		}
	}
	if _, err := store.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Errorf("a max_age 0 policy was stored (err %v)", err)
	}
}

// Absence of a record is remembered for the DNS negative TTL, at most
// NegativeTTL; DNS failures for a shorter while.
func TestCacheNegativeCaching(t *testing.T) {
	w := newWorld(t)
	w.DNS.Set("_mta-sts.short.example", zoneAnswer{NegTTL: 60})
	w.DNS.Set("_mta-sts.long.example", zoneAnswer{NegTTL: 86400})
	w.DNS.Set("_mta-sts.broken.example", zoneAnswer{Rcode: dns.RcodeServerFailure})
	c := w.Cache(t, w.Config())

	for _, tt := range []struct {
		domain string
		ttl    time.Duration
	}{
		{"short.example", 60 * time.Second},
		{"long.example", policycache.DefaultNegativeTTL},
		{"broken.example", 30 * time.Second},
	} {
		start := w.Clock.Now()
		lookup(t, c, tt.domain)
		w.Clock.Advance(tt.ttl - time.Second)
		lookup(t, c, tt.domain)
		if q := w.DNS.Queries("_mta-sts." + tt.domain); q != 1 {
			t.Errorf("%s: %d queries within %v, want 1", tt.domain, q, tt.ttl)
		}
		w.Clock.Advance(time.Second)
		lookup(t, c, tt.domain)
		if q := w.DNS.Queries("_mta-sts." + tt.domain); q != 2 {
			t.Errorf("%s: %d queries after %v, want 2", tt.domain, q, w.Clock.Now().Sub(start))
		}
	}
}

// Concurrent Lookups of an uncached domain share one TXT query and one
// fetch.
func TestConcurrentLookupsShareOneDiscovery(t *testing.T) {
	const n = 10000
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	c := w.Cache(t, w.Config())

	release := w.Host.Hold()
	defer release()
	started := make(chan struct{}, n)
	results := make(chan policycache.Result, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			started <- struct{}{}
			res, err := c.Lookup(ctx, "example.com")
			if err != nil {
				errs <- err
				return
			}
			results <- res
		}()
	}
	for range n {
		<-started
	}
	release()
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case res := <-results:
			if res.Policy == nil || res.ID != "1" || res.Policy.Mode != mtasts.ModeEnforce {
				t.Fatalf("result %+v", summarize(res))
			}
		}
	}
	if q, r := w.DNS.Queries("_mta-sts.example.com"), w.Host.Requests("example.com"); q != 1 || r != 1 {
		t.Errorf("%d TXT queries and %d policy requests for %d concurrent lookups; want 1 and 1", q, r, n)
	}
}

// Lookup takes the domain in any form a person or an MX record writes it.
func TestLookupDomainForms(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	w.Publish("xn--bcher-kva.example", "7", testingPolicy)
	c := w.Cache(t, w.Config())

	for _, d := range []string{"example.com", "EXAMPLE.com", "example.com."} {
		if res := lookup(t, c, d); res.Domain != "example.com" || res.ID != "1" {
			t.Errorf("Lookup(%q): domain %q id %q", d, res.Domain, res.ID)
		}
	}
	if q := w.DNS.Queries("_mta-sts.example.com"); q != 1 {
		t.Errorf("%d queries for three spellings, want 1", q)
	}
	if res := lookup(t, c, "Bücher.example"); res.Domain != "xn--bcher-kva.example" || res.ID != "7" {
		t.Errorf("U-label domain: %q id %q", res.Domain, res.ID)
	}

	for _, d := range []string{"", ".", "exa mple.com", "a..b", "-a.example", "a_b.example", "mta-sts.example/x", "xn--a.example"} {
		if _, err := c.Lookup(ctx, d); !errors.Is(err, policycache.ErrInvalidDomain) {
			t.Errorf("Lookup(%q): err = %v, want ErrInvalidDomain", d, err)
		}
	}
}

// A Lookup whose context ends while the discovery runs returns the
// context's error; the discovery goes on for later Lookups.
func TestLookupContext(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	c := w.Cache(t, w.Config())
	release := w.Host.Hold()

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Lookup(short, "example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	release()
	res := lookup(t, c, "example.com")
	if res.ID != "1" || w.Host.Requests("example.com") != 1 {
		t.Errorf("id %q after %d fetches; want 1 after 1", res.ID, w.Host.Requests("example.com"))
	}
}

func TestClose(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	w.DNS.Set("_mta-sts.slow.example", zoneAnswer{Drop: true})
	cfg := w.Config()
	cfg.Resolver = &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: time.Minute}
	cfg.DisableRefresh = false
	c, err := policycache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error)
	go func() {
		_, err := c.Lookup(ctx, "slow.example")
		waiting <- err
	}()
	w.DNS.WaitQueries("_mta-sts.slow.example", 1)
	c.Close() // returns once the discovery and the refresh loop have stopped
	if err := <-waiting; !errors.Is(err, policycache.ErrClosed) {
		t.Errorf("waiting Lookup: err = %v, want ErrClosed", err)
	}
	if _, err := c.Lookup(ctx, "example.com"); !errors.Is(err, policycache.ErrClosed) {
		t.Errorf("Lookup after Close: err = %v, want ErrClosed", err)
	}
	c.Close() // a second Close is harmless
}

func TestNewRejectsNegativeDurations(t *testing.T) {
	for _, cfg := range []policycache.Config{
		{Timeout: -1}, {NegativeTTL: -time.Second}, {FetchBackoff: -time.Minute}, {RefreshInterval: -time.Hour},
	} {
		cfg.Resolver = &net.Resolver{}
		if c, err := policycache.New(cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// A resolver without TTLs (here *net.Resolver's interface, served by the
// DNS resolver without its LookupTXTTTL) has its answers kept one minute.
func TestPlainResolver(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	cfg := w.Config()
	cfg.Resolver = plainResolver{cfg.Resolver}
	c := w.Cache(t, cfg)
	lookup(t, c, "example.com")
	w.Clock.Advance(59 * time.Second)
	lookup(t, c, "example.com")
	w.Clock.Advance(time.Second)
	lookup(t, c, "example.com")
	if q := w.DNS.Queries("_mta-sts.example.com"); q != 2 {
		t.Errorf("%d queries, want 2", q)
	}
}

type plainResolver struct{ r mtasts.Resolver }

func (p plainResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return p.r.LookupTXT(ctx, name)
}

// With the real clock (Config.Now nil) hits use the cache's coarse clock.
func TestRealClock(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	cfg := w.Config()
	cfg.Now = nil
	c := w.Cache(t, cfg)
	check(t, "first", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
	for range 100 {
		check(t, "hit", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	}
	if q := w.DNS.Queries("_mta-sts.example.com"); q != 1 {
		t.Errorf("%d queries, want 1", q)
	}
}

// A TXT answer too large for UDP is fetched over TCP.
func TestCacheTruncatedTXT(t *testing.T) {
	w := newWorld(t)
	w.Host.Serve("example.com", enforcePolicy)
	w.DNS.Set("_mta-sts.example.com", zoneAnswer{TXT: [][]string{{"v=STSv1; id=1;"}}, TTL: 300, Truncate: true})
	c := w.Cache(t, w.Config())
	check(t, "lookup", lookup(t, c, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
	if n := w.DNS.TCPQueries(); n != 1 {
		t.Errorf("%d TCP queries, want 1", n)
	}
}
