package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// Policy domains of the test world, each with its policy host.
const (
	enforceDomain  = "enforce.test"  // mode enforce: mx1.enforce.test, *.mx.enforce.test
	testingDomain  = "testing.test"  // mode testing
	noneDomain     = "none.test"     // mode none
	brokenDomain   = "broken.test"   // TXT record, policy host answers 404
	nopolicyDomain = "nopolicy.test" // no TXT record
	changeDomain   = "change.test"   // policy changed by the test
	testTTL        = 300             // DNS TTL of the world's records
)

var worldDomains = []string{enforceDomain, testingDomain, noneDomain, brokenDomain, nopolicyDomain, changeDomain}

// testWorld is the loopback Internet of the tests: a DNS server, a CA, and
// one HTTPS policy host serving mta-sts.<domain> for every world domain,
// from policies the test changes. Its clock moves only when told.
type testWorld struct {
	Clock *world.Clock
	CA    *world.CA
	DNS   *world.DNS
	Net   *world.Network
	host  *world.HTTPS

	mu       sync.Mutex
	policies map[string]*mtasts.Policy
}

func newTestWorld(t testing.TB) *testWorld { return newTestWorldOn(t, "", nil) }

// newTestWorldWith is newTestWorld with the extra domains too, each with
// a policy in mode enforce for mx1.<domain>.
func newTestWorldWith(t testing.TB, extra []string) *testWorld { return newTestWorldOn(t, "", extra) }

// newTestWorldOn is newTestWorldWith with the DNS server on dnsAddr
// ("127.0.0.1:53" in a private network namespace); "" means a random
// port.
func newTestWorldOn(t testing.TB, dnsAddr string, extra []string) *testWorld {
	t.Helper()
	start := time.Now()
	w := &testWorld{Clock: world.NewClock(start), policies: map[string]*mtasts.Policy{}}
	var err error
	if w.CA, err = world.NewCA(start); err != nil {
		t.Fatal(err)
	}
	if dnsAddr == "" {
		w.DNS, err = world.ListenDNS()
	} else {
		w.DNS, err = world.ListenDNSAt(dnsAddr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.DNS.Close)
	w.Net = world.NewNetwork(w.DNS.Addr)
	var names []string
	for _, d := range append(append([]string(nil), worldDomains...), extra...) {
		names = append(names, "mta-sts."+d)
	}
	certs := make([]tls.Certificate, len(names))
	for i, n := range names {
		if certs[i], err = w.CA.Issue(n); err != nil {
			t.Fatal(err)
		}
	}
	if w.host, err = world.ServeHTTPSCerts(&mtasts.Handler{Policy: w.policy}, certs...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.host.Close)
	for _, n := range names {
		w.DNS.SetA(n, testTTL, netip.MustParseAddr("127.0.0.1"))
		w.Net.Route(n+":443", w.host.Addr)
	}
	w.publish(t, enforceDomain, mtasts.ModeEnforce, "mx1.enforce.test", "*.mx.enforce.test")
	w.publish(t, testingDomain, mtasts.ModeTesting, "mx1.testing.test")
	w.publish(t, noneDomain, mtasts.ModeNone, "mx1.none.test")
	w.publish(t, changeDomain, mtasts.ModeEnforce, "old.change.test")
	w.DNS.SetTXT("_mta-sts."+brokenDomain, testTTL, "v=STSv1; id=broken1;")
	for _, d := range extra {
		w.publish(t, d, mtasts.ModeEnforce, "mx1."+d)
	}
	return w
}

// policy is the policy host's lookup: nil (404) for a domain without one.
func (w *testWorld) policy(_ context.Context, domain string) (*mtasts.Policy, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.policies[domain], nil
}

// publish makes domain serve a policy of mode and mx patterns, then
// announces its id (RFC 8461 §8.1 order).
func (w *testWorld) publish(t testing.TB, domain string, mode mtasts.Mode, mx ...string) {
	t.Helper()
	p, err := mtasts.NewPolicy(mode, 7*24*time.Hour, mx...)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.policies[domain] = p
	w.mu.Unlock()
	w.DNS.SetTXT("_mta-sts."+domain, testTTL, (&mtasts.Record{ID: mtasts.PolicyID(p)}).String())
}

// unpublish makes the policy host answer 404 for domain.
func (w *testWorld) unpublish(domain string) {
	w.mu.Lock()
	delete(w.policies, domain)
	w.mu.Unlock()
}

// deps are the daemon's dependencies in the world.
func (w *testWorld) deps() deps {
	return deps{
		resolver:   &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: 5 * time.Second, Attempts: 2},
		httpClient: w.httpClient(),
		now:        w.Clock.Now,
	}
}

// httpClient reaches the world's policy host, trusting the world's CA at
// the world's time.
func (w *testWorld) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:     w.Net.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: w.CA.Pool, Time: w.Clock.Now},
	}}
}

// testConfig is the default configuration on a random loopback port.
func testConfig() Config {
	cfg := defaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.LogLevel = "debug"
	return cfg
}

// startDaemon starts a daemon of cfg with d, stopped at the end of the
// test; its log goes to the test log.
func startDaemon(t testing.TB, cfg Config, d deps) *daemon {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	dm, err := newDaemon(cfg, d, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.start(); err != nil {
		dm.close()
		t.Fatal(err)
	}
	t.Cleanup(dm.shutdown)
	return dm
}

// testLog writes log lines to the test log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// client is a socketmap client on a real TCP (or unix) connection.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, dm *daemon) *client {
	t.Helper()
	c, err := net.Dial(dm.ln.Addr().Network(), dm.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes raw bytes.
func (cl *client) send(raw string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, raw); err != nil {
		cl.t.Fatal(err)
	}
}

// ask sends one request and returns the reply.
func (cl *client) ask(req string) string {
	cl.t.Helper()
	cl.send(netstring(req))
	return cl.reply()
}

// reply reads one netstring reply.
func (cl *client) reply() string {
	cl.t.Helper()
	r, err := readReply(cl.br)
	if err != nil {
		cl.t.Fatalf("reading the reply: %v", err)
	}
	return r
}

// closed checks that the server closed the connection.
func (cl *client) closed() {
	cl.t.Helper()
	if b, err := cl.br.ReadByte(); err != io.EOF {
		cl.t.Fatalf("connection not closed: byte %q, err %v", b, err)
	}
}

func netstring(s string) string { return strconv.Itoa(len(s)) + ":" + s + "," }

// readReply reads a netstring reply of at most maxReply bytes.
func readReply(br *bufio.Reader) (string, error) {
	lenText, err := br.ReadString(':')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, ":"))
	if err != nil || n > maxReply {
		return "", fmt.Errorf("bad reply length %q", lenText)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	if buf[n] != ',' {
		return "", fmt.Errorf("reply without comma: %q", buf)
	}
	return string(buf[:n]), nil
}

// metricsText returns the daemon's /metrics page.
func metricsText(dm *daemon) string {
	rec := httptest.NewRecorder()
	dm.metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// manyDomains returns n policy domains d0.many.test, d1.many.test, ...
func manyDomains(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "d" + strconv.Itoa(i) + ".many.test"
	}
	return out
}

// wantMetrics checks that the daemon's /metrics page has each line.
func wantMetrics(t testing.TB, dm *daemon, lines ...string) {
	t.Helper()
	m := metricsText(dm)
	for _, want := range lines {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}
