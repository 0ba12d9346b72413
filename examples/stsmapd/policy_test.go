package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// TestPolicyReplies covers each mode, with and without strict_testing,
// and a zone with the TLSRPT attributes.
func TestPolicyReplies(t *testing.T) {
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.Zones = map[string]Zone{
		"postfix": {},
		"strict":  {StrictTesting: true},
		"tlsrpt":  {TLSRPT: true},
	}
	dm := startDaemon(t, cfg, w.deps())
	cl := dial(t, dm)
	for _, tc := range []struct{ req, want string }{
		{"postfix " + enforceDomain, enforceReply},
		{"postfix " + testingDomain, "NOTFOUND "},
		{"strict " + testingDomain, "OK secure match=mx1.testing.test servername=hostname"},
		{"strict " + enforceDomain, enforceReply},
		{"postfix " + noneDomain, "NOTFOUND "},
		{"strict " + noneDomain, "NOTFOUND "},
		{"postfix " + nopolicyDomain, "NOTFOUND "},
		{"postfix " + brokenDomain, "NOTFOUND "}, // fetch fails, nothing cached: fail-open
		{"tlsrpt " + enforceDomain, enforceReply + " policy_type=sts policy_domain=enforce.test" +
			" mx_host_pattern=mx1.enforce.test mx_host_pattern=*.mx.enforce.test" +
			" { policy_string = version: STSv1 } { policy_string = mode: enforce }" +
			" { policy_string = mx: mx1.enforce.test } { policy_string = mx: *.mx.enforce.test }" +
			" { policy_string = max_age: 604800 }"},
		{"tlsrpt " + testingDomain, "NOTFOUND "},
	} {
		if got := cl.ask(tc.req); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.req, got, tc.want)
		}
	}
	wantMetrics(t, dm,
		`stsmapd_lookups_total{zone="postfix",outcome="secure"} 1`,
		`stsmapd_lookups_total{zone="postfix",outcome="testing"} 1`,
		`stsmapd_lookups_total{zone="postfix",outcome="no_policy"} 2`,
		`stsmapd_lookups_total{zone="postfix",outcome="fail_open"} 1`,
		`stsmapd_lookups_total{zone="strict",outcome="secure"} 2`,
		`stsmapd_discoveries_total 5`, // one per domain: the rest are hits
		`stsmapd_fetches_total 4`,     // enforce, testing, none, broken
		`stsmapd_fetch_failures_total{reason="HTTP status"} 1`,
		`stsmapd_cache_domains 5`,
		`stsmapd_connections 1`,
	)
}

// TestFetchFailureCached: a new id whose policy cannot be fetched leaves
// the cached policy in force (fail-closed), with policy_failure in the
// TLSRPT attributes; a new id that can be fetched replaces it.
func TestFetchFailureCached(t *testing.T) {
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.Zones = map[string]Zone{"postfix": {}, "tlsrpt": {TLSRPT: true}}
	dm := startDaemon(t, cfg, w.deps())
	cl := dial(t, dm)
	old := "OK secure match=old.change.test servername=hostname"
	if got := cl.ask("postfix " + changeDomain); got != old {
		t.Fatalf("first lookup: %q", got)
	}
	// A new id, and the policy host answers 404 for it.
	w.unpublish(changeDomain)
	w.DNS.SetTXT("_mta-sts."+changeDomain, testTTL, "v=STSv1; id=new1;")
	w.Clock.Advance((testTTL + 1) * time.Second)
	if got := cl.ask("postfix " + changeDomain); got != old {
		t.Errorf("fetch failed under a cached policy: %q, want the cached %q", got, old)
	}
	if got := cl.ask("tlsrpt " + changeDomain); !strings.HasPrefix(got, old+" policy_type=sts") ||
		!strings.HasSuffix(got, " policy_failure=sts-policy-fetch-error") {
		t.Errorf("TLSRPT reply after the failed fetch: %q", got)
	}
	// The policy changes by id: the new one is fetched and applied.
	w.publish(t, changeDomain, mtasts.ModeEnforce, "new.change.test", "*.backup.change.test")
	w.Clock.Advance((testTTL + 1) * time.Second)
	if got, want := cl.ask("postfix "+changeDomain), "OK secure match=new.change.test:.backup.change.test servername=hostname"; got != want {
		t.Errorf("after the change: %q, want %q", got, want)
	}
}

// TestUndetermined: a DNS failure with nothing cached answers TEMP, or
// NOTFOUND in a zone that fails open; a cached policy still answers.
func TestUndetermined(t *testing.T) {
	w := newTestWorld(t)
	d := w.deps()
	r := &switchResolver{next: d.resolver}
	d.resolver = r
	cfg := testConfig()
	cfg.Zones = map[string]Zone{"postfix": {}, "open": {FailOpenUndetermined: true}}
	dm := startDaemon(t, cfg, d)
	cl := dial(t, dm)
	if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("warm-up: %q", got)
	}
	r.fail(deadServer(t))
	w.Clock.Advance((testTTL + 1) * time.Second)
	for _, tc := range []struct{ req, want string }{
		{"postfix " + enforceDomain, enforceReply}, // cached: fail-closed
		{"postfix " + testingDomain, replyUndetermined},
		{"open " + noneDomain, "NOTFOUND "},
		{"postfix " + nopolicyDomain, replyUndetermined},
	} {
		if got := cl.ask(tc.req); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.req, got, tc.want)
		}
	}
	wantMetrics(t, dm,
		`stsmapd_lookups_total{zone="postfix",outcome="undetermined"} 2`,
		`stsmapd_lookups_total{zone="open",outcome="fail_open"} 1`)
}

// TestRequestDeadline: a discovery slower than request_timeout answers
// TIMEOUT (or NOTFOUND in a fail-open zone) at the deadline, and the
// connection goes on.
func TestRequestDeadline(t *testing.T) {
	w := newTestWorld(t)
	d := w.deps()
	r := &switchResolver{next: d.resolver, block: make(chan struct{})}
	d.resolver = r
	cfg := testConfig()
	cfg.RequestTimeout = Duration(50 * time.Millisecond)
	cfg.Zones = map[string]Zone{"postfix": {}, "open": {FailOpenUndetermined: true}}
	dm := startDaemon(t, cfg, d)
	cl := dial(t, dm)
	if got := cl.ask("postfix " + enforceDomain); got != replyTimeout {
		t.Errorf("blocked discovery: %q, want %q", got, replyTimeout)
	}
	if got := cl.ask("open " + enforceDomain); got != "NOTFOUND " {
		t.Errorf("blocked discovery, fail-open zone: %q", got)
	}
	// The discovery goes on past the deadline. With a longer deadline (a
	// reload), the next request waits for it, or finds its answer, and
	// gets the policy.
	st := *dm.srv.settings.Load()
	st.requestTimeout = time.Minute
	dm.srv.settings.Store(&st)
	close(r.block)
	if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
		t.Errorf("after the discovery: %q", got)
	}
}

// TestRestartDirStore: policies fetched before a restart answer after it
// from the DirStore, before any network: with DNS down, the cached policy
// applies (fail-closed) and nothing is fetched.
func TestRestartDirStore(t *testing.T) {
	w := newTestWorld(t)
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Store = "dir:" + dir
	dm := startDaemon(t, cfg, w.deps())
	if got := dial(t, dm).ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("before the restart: %q", got)
	}
	dm.shutdown()

	d := w.deps()
	d.resolver = &policycache.DNSResolver{Servers: []string{deadServer(t)}, Attempts: 1}
	w.host.Close() // no policy host either
	dm2 := startDaemon(t, cfg, d)
	if got := dial(t, dm2).ask("postfix " + enforceDomain); got != enforceReply {
		t.Errorf("after the restart: %q, want the stored policy", got)
	}
	wantMetrics(t, dm2, "stsmapd_fetches_total 0", "stsmapd_cache_domains 1")
}

// deadServer returns the address of a UDP port nobody listens on: DNS
// queries to it fail at once (ICMP port unreachable).
func deadServer(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// TestIdleTimeout: a connection without a request for idle_timeout is
// closed by the daemon, after the replies to what it asked.
func TestIdleTimeout(t *testing.T) {
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.IdleTimeout = Duration(50 * time.Millisecond)
	dm := startDaemon(t, cfg, w.deps())
	cl := dial(t, dm)
	if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("%q", got)
	}
	cl.closed()
}

// TestDrainAnswersInFlight: on shutdown a request being answered gets its
// reply (here once its blocked discovery is let go), then the connection
// closes; an idle connection closes at once.
func TestDrainAnswersInFlight(t *testing.T) {
	w := newTestWorld(t)
	d := w.deps()
	r := &switchResolver{next: d.resolver, block: make(chan struct{})}
	d.resolver = r
	dm := startDaemon(t, testConfig(), d)
	idle := dial(t, dm)
	if got := idle.ask("nozone x"); got != replyUnknownZone {
		t.Fatalf("%q", got)
	}
	busy := dial(t, dm)
	busy.send(netstring("postfix " + enforceDomain))
	r.waitStarted(t)
	stopped := make(chan struct{})
	go func() {
		dm.srv.shutdown(context.Background())
		close(stopped)
	}()
	idle.closed()
	close(r.block)
	if got := busy.reply(); got != enforceReply {
		t.Errorf("in-flight request during the drain: %q", got)
	}
	busy.closed()
	<-stopped
}
