package policycache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// blackHole is a DNS server on 127.0.0.1 that reads every query and never
// answers.
type blackHole struct {
	Addr  string
	reads chan struct{} // one value per query read
}

func newBlackHole(t *testing.T, capacity int) *blackHole {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &blackHole{Addr: pc.LocalAddr().String(), reads: make(chan struct{}, capacity)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case h.reads <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return h
}

// Wait waits for n more queries.
func (h *blackHole) Wait(n int) {
	for range n {
		<-h.reads
	}
}

// openFiles counts the file descriptors of the process.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries) - 1 // the directory being read
}

// goroutinesIn counts the goroutines whose stack includes fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte(fn+"("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitFor waits until cond holds, checking whenever the scheduler runs
// this goroutine again.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// blackHoleCache is a Cache asking hole, with limit discoveries at once and
// the DNS timeout dnsTimeout.
func blackHoleCache(t *testing.T, hole *blackHole, limit int, dnsTimeout time.Duration) *policycache.Cache {
	t.Helper()
	c, err := policycache.New(policycache.Config{
		Resolver:       &policycache.DNSResolver{Servers: []string{hole.Addr}, Timeout: dnsTimeout, Attempts: 1},
		Now:            newClock().Now,
		Logger:         discardLogger(),
		DisableRefresh: true,
		MaxDiscoveries: limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 10 000 distinct domains against a DNS server that never answers: at
// most MaxDiscoveries discoveries run, each in one goroutine with one
// socket; the others wait in a queue without goroutine or socket. Lookups
// that give up leave the queue, and Close ends everything.
func TestDiscoveryCapBlackHole(t *testing.T) {
	const (
		n     = 10000
		limit = 16
	)
	hole := newBlackHole(t, n)
	baseFiles := openFiles(t)
	c := blackHoleCache(t, hole, limit, time.Hour)
	lookupCtx, giveUp := context.WithCancel(ctx)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.Lookup(lookupCtx, fmt.Sprintf("d%05d.example", i))
			errs <- err
		}()
	}
	hole.Wait(limit)
	waitFor(func() bool { r, q, _ := c.DiscoveryStats(); return r+q == n })

	running, queued, peak := c.DiscoveryStats()
	if running != limit || queued != n-limit || peak != limit {
		t.Errorf("%d running, %d queued, peak %d; want %d, %d, %d", running, queued, peak, limit, n-limit, limit)
	}
	if g := goroutinesIn("policycache.(*Cache).work"); g != limit {
		t.Errorf("%d goroutines in discovery, want %d", g, limit)
	}
	files := openFiles(t) - baseFiles
	t.Logf("%d Lookups waiting: %d discoveries running, %d queued, %d file descriptors more than before", n, running, queued, files)
	if files > limit {
		t.Errorf("%d more file descriptors, want at most %d (one socket per discovery)", files, limit)
	}
	select {
	case <-hole.reads:
		t.Error("more queries than MaxDiscoveries")
	default:
	}

	// Every Lookup gives up: the queued discoveries are dropped with their
	// domains; the running ones go on.
	giveUp()
	for range n {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Lookup: %v, want context.Canceled", err)
		}
	}
	if r, q, _ := c.DiscoveryStats(); r != limit || q != 0 {
		t.Errorf("after giving up: %d running, %d queued; want %d, 0", r, q, limit)
	}
	if d := c.Len(); d != limit {
		t.Errorf("after giving up: %d domains in memory, want %d", d, limit)
	}

	c.Close()
	// Close waited for every discovery to end; a goroutine may still be
	// returning from work (its deferred WaitGroup.Done ran), so wait for
	// it to leave rather than sample the stacks once.
	waitFor(func() bool { return goroutinesIn("policycache.(*Cache).work") == 0 })
	if files := openFiles(t) - baseFiles; files > 0 {
		t.Errorf("after Close: %d file descriptors more than before", files)
	}
}

// With short DNS timeouts the queue drains: every Lookup ends, none with
// more than MaxDiscoveries discoveries or sockets at once, and each
// domain gets no policy (fail-open after a DNS failure, RFC 8461 §3.3).
func TestDiscoveryCapDrains(t *testing.T) {
	const (
		n     = 2000
		limit = 8
	)
	hole := newBlackHole(t, n)
	baseFiles := openFiles(t)
	c := blackHoleCache(t, hole, limit, 5*time.Millisecond)
	defer c.Close()

	// Count the sockets at every 20th query, from the server's side.
	var (
		mu       sync.Mutex
		maxFiles int
		stop     = make(chan struct{})
		sampled  = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		for i := 0; ; i++ {
			select {
			case <-hole.reads:
			case <-stop:
				return
			}
			if i%20 == 0 {
				f := openFiles(t) - baseFiles
				mu.Lock()
				maxFiles = max(maxFiles, f)
				mu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := c.Lookup(ctx, fmt.Sprintf("d%05d.example", i))
			if err != nil || res.Policy != nil || res.Err == nil {
				t.Errorf("Lookup: %v, %+v; want no policy and a DNS error", err, res)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	_, queued, peak := c.DiscoveryStats()
	t.Logf("%d domains: at most %d discoveries at once, %d file descriptors more than before", n, peak, maxFiles)
	if peak != limit || queued != 0 {
		t.Errorf("peak %d, %d queued; want %d, 0", peak, queued, limit)
	}
	if maxFiles > limit {
		t.Errorf("%d more file descriptors, want at most %d", maxFiles, limit)
	}
}

// A Lookup whose context ends while its discovery waits in the queue
// applies the cached policy, not fresh (fail-closed); with nothing cached
// it returns the context's error, and the domain is not kept.
func TestQueuedLookupContext(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	w.DNS.Set("_mta-sts.slow.example", zoneAnswer{Drop: true})
	cfg := w.Config()
	cfg.Resolver = &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: time.Minute, Attempts: 1}
	cfg.MaxDiscoveries = 1
	c := w.Cache(t, cfg)
	lookup(t, c, "example.com")
	w.Clock.Advance(301 * time.Second) // the TXT record is due again

	slowCtx, cancelSlow := context.WithCancel(ctx)
	defer cancelSlow()
	go c.Lookup(slowCtx, "slow.example") // takes the one slot
	w.DNS.WaitQueries("_mta-sts.slow.example", 1)

	gone, cancel := context.WithCancel(ctx)
	cancel()
	res, err := c.Lookup(gone, "example.com")
	if err != nil {
		t.Fatalf("cached domain: err %v, want the cached policy", err)
	}
	check(t, "cached domain", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, HasErr: true})
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", res.Err)
	}
	if _, err := c.Lookup(gone, "new.example"); !errors.Is(err, context.Canceled) {
		t.Errorf("new domain: err %v, want context.Canceled", err)
	}
	if r, q, _ := c.DiscoveryStats(); r != 1 || q != 0 {
		t.Errorf("%d running, %d queued; want 1, 0", r, q)
	}
	if d := c.Len(); d != 2 {
		t.Errorf("%d domains in memory, want 2 (example.com, slow.example)", d)
	}
	if n := w.DNS.Queries("_mta-sts.example.com"); n != 1 {
		t.Errorf("%d queries for example.com, want 1", n)
	}
}

// waitTotal waits until n policy requests for domains have arrived in all.
func (h *policyHost) waitTotal(domains []string, n int) int {
	for {
		h.mu.Lock()
		total := 0
		for _, d := range domains {
			total += h.requests[d]
		}
		ch := h.changed
		h.mu.Unlock()
		if total >= n {
			return total
		}
		<-ch
	}
}

// Fetches count against MaxDiscoveries too: with the policy host holding
// every request, only MaxDiscoveries connections are open, and the queue
// moves on once they are answered.
func TestDiscoveryCapFetches(t *testing.T) {
	const (
		n     = 40
		limit = 4
	)
	w, domains := manyDomains(t, n, enforcePolicy)
	cfg := w.Config()
	cfg.Logger = discardLogger()
	cfg.MaxDiscoveries = limit
	c := w.Cache(t, cfg)
	baseFiles := openFiles(t)
	release := w.Host.Hold()
	defer release()

	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Go(func() {
			if res, err := c.Lookup(ctx, d); err != nil || res.Policy == nil {
				t.Errorf("Lookup(%s): %v, %v", d, err, res.Err)
			}
		})
	}
	w.Host.waitTotal(domains, limit)
	waitFor(func() bool { r, q, _ := c.DiscoveryStats(); return r+q == n })
	running, queued, _ := c.DiscoveryStats()
	// Both ends of each connection are in this process.
	files := openFiles(t) - baseFiles
	t.Logf("%d fetches held by the policy host: %d running, %d queued, %d file descriptors more than before", limit, running, queued, files)
	if running != limit || queued != n-limit {
		t.Errorf("%d running, %d queued; want %d, %d", running, queued, limit, n-limit)
	}
	if files > 2*limit {
		t.Errorf("%d more file descriptors, want at most %d (a connection per discovery, both ends)", files, 2*limit)
	}
	if total := w.Host.waitTotal(domains, 0); total != limit {
		t.Errorf("%d requests while held, want %d", total, limit)
	}
	release()
	wg.Wait()
	if _, _, peak := c.DiscoveryStats(); peak != limit {
		t.Errorf("peak %d discoveries, want %d", peak, limit)
	}
}
