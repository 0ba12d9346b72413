package redisstore_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// fleetWorld is the loopback Internet of the demo (real DNS server, CA,
// HTTPS) with a policy host of example.com that counts its fetches.
type fleetWorld struct {
	*world.World
	fetches atomic.Int64
}

const fleetPolicy = "version: STSv1\nmode: enforce\nmx: mx2.example.com\nmax_age: 604800\n"

func newFleetWorld(t testing.TB, start time.Time) *fleetWorld {
	t.Helper()
	w, err := world.New(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	fw := &fleetWorld{World: w}
	p, err := mtasts.ParsePolicy([]byte(fleetPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := w.CA.Issue(world.PolicyHost)
	if err != nil {
		t.Fatal(err)
	}
	h := &mtasts.Handler{Policy: func(context.Context, string) (*mtasts.Policy, error) { return p, nil }}
	host, err := world.ServeHTTPS(cert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fw.fetches.Add(1)
		h.ServeHTTP(rw, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	w.Net.Route(world.PolicyHost+":443", host.Addr)
	w.AnnounceID(mtasts.PolicyID(p))
	return fw
}

// cache returns a Cache of an MTA in the world using store, closed when
// the test ends. now nil means the real clock.
func (w *fleetWorld) cache(t testing.TB, store policycache.Store, now func() time.Time, log *slog.Logger) *policycache.Cache {
	t.Helper()
	c, err := policycache.New(policycache.Config{
		Resolver:   &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: 5 * time.Second, Attempts: 2},
		HTTPClient: w.HTTPClient(),
		Store:      store,
		Now:        now,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Three MTAs whose Caches share a PolicyStore make 1000 lookups of a
// domain new to all of them, all at the same instant (the goroutines of
// the three start behind one channel close): the policy host serves
// exactly one fetch. Each Cache runs one discovery for its lookups; the
// three discoveries miss the Store together, and the fetch lock lets one
// fetch while the other two wait and then read what it stored.
func TestCachesShareOneFetch(t *testing.T) {
	w := newFleetWorld(t, time.Now())
	pfx := prefix(t)
	var caches []*policycache.Cache
	for range 3 {
		caches = append(caches, w.cache(t, redisstorePolicyStore(t, pfx), w.Clock.Now, discard()))
	}
	const lookups = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range lookups {
		m, c := i%len(caches), caches[i%len(caches)]
		wg.Go(func() {
			<-start
			res, err := c.Lookup(context.Background(), world.Domain)
			if err != nil || res.Policy == nil || res.Policy.Mode != mtasts.ModeEnforce {
				t.Errorf("MTA %d: Lookup = %+v, %v", m, res, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := w.fetches.Load(); n != 1 {
		t.Errorf("the policy host served %d fetches for %d concurrent lookups by 3 MTAs, want 1", n, lookups)
	}
}
