package main

import (
	"bufio"
	"context"

	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

// postfixChildEnv marks the test binary re-executed inside the private
// network and mount namespaces.
const postfixChildEnv = "STSMAPD_POSTFIX_NAMESPACE"

// TestPostfix delivers mail with a real Postfix configured with this
// daemon as smtp_tls_policy_maps, to loopback MX hosts speaking STARTTLS:
//
//   - enforce, valid certificate: delivered over TLS;
//   - enforce, certificate for another name: deferred;
//   - enforce, MX host not in the policy's patterns: deferred;
//   - testing, certificate for another name: delivered;
//   - no policy: delivered.
//
// Postfix runs in its own network and mount namespace (unshare), with a
// private resolv.conf and hosts file bind-mounted over /etc, a private
// configuration and queue directory, no chroot, and the test CA as
// smtp_tls_CAfile; DNS (127.0.0.1:53), the policy host and the MX hosts
// (127.0.0.2-6:25) are servers of the test in that namespace. Nothing
// outside loopback is touched. It needs root and Postfix; without them it
// is skipped, unless CI=true.
func TestPostfix(t *testing.T) {
	if os.Getenv(postfixChildEnv) == "1" {
		postfixScenario(t)
		return
	}
	unavailable := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; with CI=true this test must run (.ci/run installs postfix)", why)
		}
		t.Skipf("%s: skipping the real-Postfix test (it runs in CI, as root)", why)
	}
	if os.Geteuid() != 0 {
		unavailable("not root (unshare --net --mount and port 25 need it)")
	}
	for _, bin := range []string{"/usr/sbin/postfix", "/usr/sbin/postqueue", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			unavailable(bin + " not found")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--", exe,
		"-test.run=^TestPostfix$", "-test.v", "-test.count=1", "-test.timeout=150s")
	cmd.Env = append(os.Environ(), postfixChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the namespaced run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestPostfix") {
		t.Fatal("the namespaced run did not pass")
	}
}

// postfixCase is one delivery of the end-to-end test.
type postfixCase struct {
	domain   string
	mode     mtasts.Mode // "" for no policy
	patterns []string
	mx       string // the MX host in DNS
	ip       string // its loopback address
	certName string // the name its certificate is for
	deliver  bool   // delivered, or else deferred
}

var postfixCases = []postfixCase{
	{"good.test", mtasts.ModeEnforce, []string{"mx.good.test"}, "mx.good.test", "127.0.0.2", "mx.good.test", true},
	{"wrongname.test", mtasts.ModeEnforce, []string{"mx.wrongname.test"}, "mx.wrongname.test", "127.0.0.3", "other.example.net", false},
	{"unlisted.test", mtasts.ModeEnforce, []string{"mx.listed.test"}, "mx.unlisted.test", "127.0.0.4", "mx.unlisted.test", false},
	{"testing.test", mtasts.ModeTesting, []string{"mx.testing.test"}, "mx.testing.test", "127.0.0.5", "other.example.net", true},
	{"nopolicy.test", "", nil, "mx.nopolicy.test", "127.0.0.6", "mx.nopolicy.test", true},
}

// postfixScenario is the test inside the namespaces.
func postfixScenario(t *testing.T) {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	dir := t.TempDir()
	// Postfix's daemons run as user postfix: they must reach the
	// queue and data directories inside the test's directory.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct{ path, content string }{
		{"/etc/resolv.conf", "nameserver 127.0.0.1\noptions attempts:2 timeout:2\n"},
		{"/etc/hosts", "127.0.0.1 localhost sender.test\n"},
	} {
		private := filepath.Join(dir, filepath.Base(f.path))
		writeFile(t, private, f.content)
		if err := syscall.Mount(private, f.path, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind-mounting %s: %v", f.path, err)
		}
	}

	var domains []string
	for _, c := range postfixCases {
		if c.mode != "" {
			domains = append(domains, c.domain)
		}
	}
	w := newTestWorldOn(t, "127.0.0.1:53", domains)
	mxs := map[string]*world.SMTP{}
	for _, c := range postfixCases {
		if c.mode != "" {
			w.publish(t, c.domain, c.mode, c.patterns...)
		}
		cert, err := w.CA.Issue(c.certName)
		if err != nil {
			t.Fatal(err)
		}
		mx, err := world.ListenSMTPAt(c.ip+":25", c.mx, cert)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mx.Close)
		mxs[c.domain] = mx
		w.DNS.SetMX(c.domain, testTTL, c.mx)
		w.DNS.SetA(c.mx, testTTL, netip.MustParseAddr(c.ip))
	}

	// The daemon, as main.cf below asks for it.
	cfg := testConfig()
	cfg.Listen = "127.0.0.1:8461"
	d := w.deps()
	d.now = nil
	dm := startDaemon(t, cfg, d)

	pf := startPostfix(t, dir, string(w.CA.PEM))
	pf.waitLog(t, "daemon started")
	for _, c := range postfixCases {
		pf.send(t, "rcpt@"+c.domain)
	}
	for _, c := range postfixCases {
		status := pf.waitStatus(t, "rcpt@"+c.domain)
		t.Logf("%s: %s", c.domain, status)
		switch {
		case c.deliver && !strings.HasPrefix(status, "sent"):
			t.Errorf("%s: %s, want delivered", c.domain, status)
		case !c.deliver && !strings.HasPrefix(status, "deferred"):
			t.Errorf("%s: %s, want deferred", c.domain, status)
		}
	}
	for _, c := range postfixCases {
		msgs := mxs[c.domain].Messages()
		switch {
		case c.deliver && (len(msgs) != 1 || !msgs[0].TLS):
			t.Errorf("%s: the MX got %d messages (want 1, over TLS)", c.domain, len(msgs))
		case !c.deliver && len(msgs) != 0:
			t.Errorf("%s: the MX got a message despite the policy", c.domain)
		}
	}
	wantMetrics(t, dm,
		`stsmapd_lookups_total{zone="postfix",outcome="secure"} 3`,
		`stsmapd_lookups_total{zone="postfix",outcome="testing"} 1`)
}

// postfixInstance is a Postfix with its own configuration directory,
// running in the foreground (postfix start-fg) with its log on stdout.
type postfixInstance struct {
	conf string
	cmd  *exec.Cmd

	mu      sync.Mutex
	status  map[string]string // recipient → "sent (...)", "deferred (...)"
	changed chan struct{}
	exited  chan struct{} // closed when Postfix's log ends
	log     []string
}

func startPostfix(t *testing.T, dir, caPEM string) *postfixInstance {
	conf := filepath.Join(dir, "postfix")
	queue := filepath.Join(dir, "queue")
	data := filepath.Join(dir, "data")
	for _, d := range []string{conf, queue, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, postfixUID(t), -1); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(conf, "ca.pem")
	writeFile(t, ca, caPEM)
	writeFile(t, filepath.Join(conf, "main.cf"), fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = /dev/stdout
myhostname = sender.test
mydomain = sender.test
myorigin = sender.test
mydestination =
relayhost =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtp_tls_security_level = may
smtp_tls_CAfile = %s
smtp_tls_loglevel = 1
smtp_tls_session_cache_database =
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
smtp_connect_timeout = 10s
smtp_helo_timeout = 10s
`, queue, data, ca))
	writeFile(t, filepath.Join(conf, "master.cf"), `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`)
	pf := &postfixInstance{conf: conf, status: map[string]string{}, changed: make(chan struct{}), exited: make(chan struct{})}
	pf.cmd = exec.Command("/usr/sbin/postfix", "-c", conf, "start-fg")
	// Should the test process die, Postfix's master goes too (and its
	// daemons with it): nothing is left running in the namespace.
	pf.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := pf.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pf.cmd.Stderr = pf.cmd.Stdout
	if err := pf.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := pf.exited
	go func() {
		defer close(done)
		pf.read(stdout)
	}()
	t.Cleanup(func() {
		exec.Command("/usr/sbin/postfix", "-c", conf, "stop").Run()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			pf.cmd.Process.Kill()
			<-done
		}
		pf.cmd.Wait()
		pf.mu.Lock()
		t.Logf("Postfix log:\n%s", strings.Join(pf.log, "\n"))
		pf.mu.Unlock()
	})
	return pf
}

// read follows Postfix's log, noting each recipient's delivery status.
func (pf *postfixInstance) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		pf.mu.Lock()
		pf.log = append(pf.log, line)
		if _, rest, ok := strings.Cut(line, " to=<"); ok {
			rcpt, rest, _ := strings.Cut(rest, ">")
			if _, st, ok := strings.Cut(rest, " status="); ok {
				pf.status[rcpt] = st
			}
		}
		close(pf.changed)
		pf.changed = make(chan struct{})
		pf.mu.Unlock()
	}
}

// send submits a message to rcpt with Postfix's sendmail.
func (pf *postfixInstance) send(t *testing.T, rcpt string) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/sendmail", "-C", pf.conf, "-f", "sender@sender.test", "-i", rcpt)
	cmd.Stdin = strings.NewReader("From: sender@sender.test\nTo: " + rcpt + "\nSubject: MTA-STS test\n\nHello.\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail %s: %v: %s", rcpt, err, out)
	}
}

// waitLog waits for a log line containing s.
func (pf *postfixInstance) waitLog(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for seen := 0; ; {
		pf.mu.Lock()
		lines, changed := pf.log[seen:], pf.changed
		seen = len(pf.log)
		pf.mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, s) {
				return
			}
		}
		select {
		case <-changed:
		case <-pf.exited:
			t.Fatalf("Postfix stopped before logging %q", s)
		case <-timeout:
			t.Fatalf("Postfix did not log %q", s)
		}
	}
}

// waitStatus waits for the first delivery status of rcpt in the log.
func (pf *postfixInstance) waitStatus(t *testing.T, rcpt string) string {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		pf.mu.Lock()
		st, changed := pf.status[rcpt], pf.changed
		pf.mu.Unlock()
		if st != "" {
			return st
		}
		select {
		case <-changed:
		case <-pf.exited:
			t.Fatalf("Postfix stopped before a delivery status for %s", rcpt)
		case <-timeout:
			t.Fatalf("no delivery status for %s", rcpt)
		}
	}
}

func postfixUID(t *testing.T) int {
	out, err := exec.Command("id", "-u", "postfix").Output()
	if err != nil {
		t.Fatalf("id -u postfix: %v", err)
	}
	var uid int
	if _, err := fmt.Sscan(string(out), &uid); err != nil {
		t.Fatal(err)
	}
	return uid
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
