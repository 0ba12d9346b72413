package policycache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Past MaxMemory the least recently used domains leave memory, and a
// valid policy among them is read back from the Store (with no Store, from
// the Cache's compact copy of evicted policies) by the next Lookup:
// with DNS failing and the policy host down, the evicted policy is still
// applied (fail-closed, RFC 8461 §3.3).
func TestEvictionKeepsPolicyInForce(t *testing.T) {
	for _, store := range []string{"none", "MemoryStore", "DirStore"} {
		t.Run(store, func(t *testing.T) {
			w := newWorld(t)
			for _, d := range []string{"a.example", "b.example", "c.example"} {
				w.Publish(d, "1", enforcePolicy)
			}
			cfg := w.Config()
			switch store {
			case "MemoryStore":
				cfg.Store = new(policycache.MemoryStore)
			case "DirStore":
				cfg.Store = policycache.DirStore(filepath.Join(t.TempDir(), "store"))
			}
			// Room for two policy domains, not three.
			cfg.MaxMemory = 5 * entryFootprint(t, w, cfg) / 2
			c := w.Cache(t, cfg)

			lookup(t, c, "a.example")
			w.Clock.Advance(1)
			lookup(t, c, "b.example")
			w.Clock.Advance(1)
			lookup(t, c, "a.example") // a is now used more recently than b
			w.Clock.Advance(1)
			lookup(t, c, "c.example")
			if n, d := c.Evicted(), c.Len(); n != 1 || d != 2 {
				t.Fatalf("after three domains: %d evicted, %d in memory; want 1, 2", n, d)
			}
			if m := c.MemoryInUse(); m > cfg.MaxMemory {
				t.Errorf("%d bytes in use, bound %d", m, cfg.MaxMemory)
			}

			// b was the least recently used. Its DNS fails now and its
			// policy host is down: the stored policy is applied.
			w.DNS.Set("_mta-sts.b.example", zoneAnswer{Rcode: dns.RcodeServerFailure})
			w.Host.Set("b.example", site{Unreachable: true})
			res := lookup(t, c, "b.example")
			check(t, "evicted b, DNS failing", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, HasErr: true})
			if !res.AllowsMX("mx1.example.com") || res.AllowsMX("mx.attacker.example") {
				t.Errorf("AllowsMX wrong after reload: %v", res.Policy)
			}
			if n := w.Host.Requests("b.example"); n != 1 {
				t.Errorf("%d fetches of b, want 1", n)
			}
			// Reading b back made room by evicting a, now the least
			// recently used; c, the most recent, is answered from memory.
			if n := c.Evicted(); n != 2 {
				t.Errorf("%d evictions, want 2", n)
			}
			q := w.DNS.Queries("_mta-sts.c.example")
			check(t, "c in memory", lookup(t, c, "c.example"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
			if w.DNS.Queries("_mta-sts.c.example") != q {
				t.Error("c was looked up again")
			}
		})
	}
}

// A policy that the Store did not take (its Put failed) is not evicted:
// memory would be the only place holding it.
func TestEvictionKeepsUnstoredPolicy(t *testing.T) {
	w := newWorld(t)
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		w.Publish(d, "1", enforcePolicy)
	}
	cfg := w.Config()
	cfg.Store = &failingStore{}
	cfg.MaxMemory = 5 * entryFootprint(t, w, cfg) / 2
	c := w.Cache(t, cfg)
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		lookup(t, c, d)
		w.Clock.Advance(1)
	}
	if n, d := c.Evicted(), c.Len(); n != 0 || d != 3 {
		t.Errorf("%d evicted, %d in memory; want 0, 3", n, d)
	}
}

// entryFootprint is what a Cache on cfg accounts for the policy of
// a.example.
func entryFootprint(t *testing.T, w *world, cfg policycache.Config) int64 {
	t.Helper()
	cfg.Store = new(policycache.MemoryStore)
	c := w.Cache(t, cfg)
	lookup(t, c, "a.example")
	return c.MemoryInUse()
}

// failingStore is a Store that holds nothing and fails every Put.
type failingStore struct{}

func (*failingStore) Get(context.Context, string) ([]byte, error) {
	return nil, policycache.ErrCacheMiss
}
func (*failingStore) Put(context.Context, string, []byte) error { return errors.New("disk full") }
func (*failingStore) Delete(context.Context, string) error      { return nil }

// bigPolicy is a policy of nearly 64 KiB (mtasts.MaxPolicySize) in
// canonical form: 1 500 mx lines of 43 bytes.
func bigPolicy() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: enforce\r\n")
	for i := 0; b.Len() < mtasts.MaxPolicySize-100; i++ {
		fmt.Fprintf(&b, "mx: mx%05d.mail-servers.example-hosting.net\r\n", i)
	}
	b.WriteString("max_age: 604800\r\n")
	return b.String()
}

// retainedHeap fetches the policies of domains through a Cache on cfg and
// returns the heap that the Cache (and its Store) keep alive, measured as
// the live heap with the Cache minus the live heap once it is gone, and
// the bytes the Cache accounts for.
func retainedHeap(t *testing.T, cfg policycache.Config, domains []string) (retained, accounted int64) {
	t.Helper()
	c, err := policycache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for d := range work {
				if res, err := c.Lookup(ctx, d); err != nil || res.Policy == nil {
					t.Errorf("Lookup(%s): %v, %v", d, err, res.Err)
				}
			}
		})
	}
	for _, d := range domains {
		work <- d
	}
	close(work)
	wg.Wait()
	with := liveHeap()
	accounted = c.MemoryInUse()
	c.Close()
	runtime.KeepAlive(c)
	c = nil
	return with - liveHeap(), accounted
}

// heapNoise is the error allowed in a difference of two liveHeap figures:
// what the runtime and the test's servers may hold at one time and not
// the other.
const heapNoise = 256 << 10

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// manyDomains is a world where n domains publish policy.
func manyDomains(t *testing.T, n int, policy string) (*world, []string) {
	w := newWorld(t)
	domains := make([]string, n)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%04d.example", i)
		w.Publish(domains[i], "20260501T000000", policy)
	}
	return w, domains
}

// The estimate behind MaxMemory is not below what a domain with a policy
// of usual size really keeps alive.
func TestMemoryPerDomain(t *testing.T) {
	const n = 100
	w, domains := manyDomains(t, n, enforcePolicy)
	cfg := w.Config()
	cfg.Logger = discardLogger()
	cfg.Store = policycache.DirStore(t.TempDir())
	retained, accounted := retainedHeap(t, cfg, domains)
	t.Logf("%d domains with a %d-byte policy: %d bytes retained per domain, %d accounted", n, len(enforcePolicy), retained/n, accounted/n)
	if retained > accounted*5/4+heapNoise/n {
		t.Errorf("%d bytes retained, %d accounted: the estimate is too low", retained, accounted)
	}
}

// 2 000 domains serving policies of 64 KiB, the largest allowed: memory
// is one copy of each policy's text in the default MemoryStore (shared
// with the Cache's entries while they are in memory) plus at most
// MaxMemory; with a DirStore, at most MaxMemory.
//
// The test runs with 100 domains; POLICYCACHE_DOMAINS=2000 gives the
// figures of the package documentation.
func TestMemory2000LargePolicies(t *testing.T) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("POLICYCACHE_DOMAINS")); err == nil && v > 0 {
		n = v
	}
	policy := bigPolicy()
	w, domains := manyDomains(t, n, policy)
	base := w.Config()
	base.Logger = discardLogger()
	// A bound of a quarter of the policies' text, so that eviction works.
	bound := int64(n * len(policy) / 4)
	text := int64(n * len(policy))

	for _, tt := range []struct {
		name     string
		store    func() policycache.Store
		bound    int64
		maxBytes int64
	}{
		// Without eviction: one copy of each text (rounded up by the
		// allocator to whole 8 KiB pages), plus a 16-byte string header per
		// line for the mx patterns and another for the TLS-RPT policy
		// string: 0.7 times the text of these 45-byte lines.
		{"DirStore, no eviction", func() policycache.Store { return policycache.DirStore(t.TempDir()) }, 1 << 40, 2 * text},
		// One copy of the text in the store; entries in memory share it,
		// so the bound adds at most their headers.
		// (The allocator rounds a large text up to whole 8 KiB pages.)
		{"MemoryStore", func() policycache.Store { return new(policycache.MemoryStore) }, bound, text + text/8 + bound/2},
		// No Store: the evicted policies are kept as their canonical text.
		{"no Store", func() policycache.Store { return nil }, bound, text + text/8 + bound/2},
		{"DirStore", func() policycache.Store { return policycache.DirStore(t.TempDir()) }, bound, bound + bound/8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.Store = tt.store()
			cfg.MaxMemory = tt.bound
			retained, accounted := retainedHeap(t, cfg, domains)
			t.Logf("%d domains × %d-byte policy (%s, MaxMemory %.1f MiB): %.1f MiB retained (%.2f× the text), %.1f MiB accounted",
				n, len(policy), tt.name, float64(tt.bound)/(1<<20), float64(retained)/(1<<20), float64(retained)/float64(text), float64(accounted)/(1<<20))
			if accounted > tt.bound {
				t.Errorf("accounted %d bytes, bound %d", accounted, tt.bound)
			}
			// The default MemoryStore (nil) is outside the accounting.
			if cfg.Store != nil && retained > accounted+accounted/8+heapNoise {
				t.Errorf("retained %d bytes, accounted %d: the estimate is too low", retained, accounted)
			}
			if retained > tt.maxBytes+heapNoise {
				t.Errorf("retained %d bytes, want at most %d", retained, tt.maxBytes)
			}
		})
	}
}
