package policycache_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// tb is the part of testing.TB the loopback servers need, so that
// examples can start them too (see internet).
type tb interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// internet is a tb for examples: a loopback world whose servers stop on
// Stop.
type internet struct {
	*world
	cleanups []func()
}

// startInternet starts a DNS server and a policy host on 127.0.0.1 where
// example.com publishes an enforce policy (id 20260501, TXT TTL 300 s)
// allowing mx1.example.com and *.mail.example.net.
func startInternet() *internet {
	i := new(internet)
	i.world = newWorld(i)
	i.Publish("example.com", "20260501", enforcePolicy)
	return i
}

func (i *internet) Helper()           {}
func (i *internet) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (i *internet) Cleanup(f func())  { i.cleanups = append(i.cleanups, f) }
func (i *internet) Stop() {
	for j := len(i.cleanups) - 1; j >= 0; j-- {
		i.cleanups[j]()
	}
}

// clock is a manual clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logs collects what a Cache logs.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Count reports how many log lines contain all of the substrings.
func (l *logs) Count(substrings ...string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		all := true
		for _, s := range substrings {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// world is a loopback Internet for one test: a DNS server, a policy host,
// a clock and a log.
type world struct {
	DNS   *dnsServer
	Host  *policyHost
	Clock *clock
	Logs  *logs
	// DNSTimeout is the resolver's timeout: generous, because the machine
	// may be busy; tests of unanswered queries shorten it.
	DNSTimeout time.Duration
}

func newWorld(t tb) *world {
	return &world{DNS: newDNSServer(t), Host: newPolicyHost(t), Clock: newClock(), Logs: new(logs), DNSTimeout: 30 * time.Second}
}

// Config returns a Config wired to the world; the background refresh is
// off so that tests drive it themselves.
func (w *world) Config() policycache.Config {
	return policycache.Config{
		Resolver:       &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: w.DNSTimeout, Attempts: 1},
		HTTPClient:     w.Host.Client(),
		Now:            w.Clock.Now,
		Logger:         slog.New(slog.NewTextHandler(w.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DisableRefresh: true,
	}
}

// Cache returns a new Cache on cfg, closed when the test ends.
func (w *world) Cache(t tb, cfg policycache.Config) *policycache.Cache {
	t.Helper()
	c, err := policycache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Publish publishes an MTA-STS policy for domain: the TXT record with id
// (TTL 300 s) and the policy file.
func (w *world) Publish(domain, id, policy string) {
	w.DNS.SetTXT("_mta-sts."+domain, 300, "v=STSv1; id="+id+";")
	w.Host.Serve(domain, policy)
}

const (
	enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n"
	enforceNewMX  = "version: STSv1\r\nmode: enforce\r\nmx: mx2.example.com\r\nmax_age: 604800\r\n"
	testingPolicy = "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\n"
	nonePolicy    = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"
)

// discardLogger is a Logger for examples, whose output must not be mixed
// with logs.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
