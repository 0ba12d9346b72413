package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logWatch is an io.Writer for run's log that lets a test wait for a line.
type logWatch struct {
	t       testing.TB
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogWatch(t testing.TB) *logWatch { return &logWatch{t: t, changed: make(chan struct{})} }

func (l *logWatch) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// wait waits until the log holds n lines containing s.
func (l *logWatch) wait(s string, n int) {
	l.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		count, changed := strings.Count(l.buf.String(), s), l.changed
		l.mu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			l.t.Fatalf("log line %q did not appear %d times", s, n)
		}
	}
}

// TestRunReloadAndDrain runs the program as main does, on a unix socket
// with a configuration file: SIGHUP applies a new zone to an open
// connection, a broken file keeps the running configuration, and SIGTERM
// drains (the open connection is closed, run returns 0).
func TestRunReloadAndDrain(t *testing.T) {
	w := newTestWorld(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "stsmapd.sock")
	conf := filepath.Join(dir, "stsmapd.json")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"zones": {"a": {}}, "resolvers": ["` + w.DNS.Addr + `"]}`)
	signals := make(chan os.Signal, 1)
	logs := newLogWatch(t)
	var stdout bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"-config", conf, "-listen", "unix:" + sock, "-log-level", "debug"}, &stdout, logs, signals)
	}()
	logs.wait("stsmapd serving", 1)

	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	if got := cl.ask("b " + nopolicyDomain); got != replyUnknownZone {
		t.Errorf("before the reload: %q", got)
	}
	if got := cl.ask("a " + nopolicyDomain); got != "NOTFOUND " {
		t.Errorf("zone a: %q", got)
	}

	write(`{"zones": {"a": {}, "b": {"strict_testing": true}}, "resolvers": ["` + w.DNS.Addr + `"]}`)
	signals <- syscall.SIGHUP
	logs.wait("configuration reloaded", 1)
	if got := cl.ask("b " + nopolicyDomain); got != "NOTFOUND " {
		t.Errorf("after the reload, same connection: %q", got)
	}

	write(`{"zones": {"a": {}}, "bogus": 1}`)
	signals <- syscall.SIGHUP
	logs.wait("keeping the running one", 1)
	if got := cl.ask("b " + nopolicyDomain); got != "NOTFOUND " {
		t.Errorf("after a failed reload: %q", got)
	}

	signals <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Errorf("run returned %d", code)
	}
	cl.closed()
}

// TestRunQuery runs the -query mode against the world's DNS: the reply
// and the reasons, with exit status 3 for NOTFOUND.
func TestRunQuery(t *testing.T) {
	w := newTestWorld(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-query", "NoPolicy.Test.", "-resolvers", w.DNS.Addr}, &stdout, &stderr, nil)
	if code != 3 {
		t.Errorf("exit status %d, want 3; stderr:\n%s", code, &stderr)
	}
	for _, want := range []string{`reply:      "NOTFOUND "`, "decision:   no_policy", "domain:     nopolicy.test", "fresh:      true"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
}

// TestRunQueryPolicy runs -query through the daemon's query path with the
// world's HTTPS client: the enforce reply, exit status 0.
func TestRunQueryPolicy(t *testing.T) {
	w := newTestWorld(t)
	dm, err := newDaemon(testConfig(), w.deps(), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer dm.close()
	var stdout, stderr bytes.Buffer
	if code := dm.query(context.Background(), "postfix", "[enforce.test]:25", &stdout, &stderr); code != 0 {
		t.Errorf("exit status %d; stderr:\n%s", code, &stderr)
	}
	for _, want := range []string{`reply:      "` + enforceReply + `"`, "policy:     mode enforce, mx mx1.enforce.test *.mx.enforce.test"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
}

// TestConfigErrors: a configuration with mistakes is refused with every
// mistake named.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.json")
	os.WriteFile(conf, []byte(`{"metrics": "0.0.0.0:9100", "store": "redis:x", "request_timeout": "2m", "max_connections": 0, "zones": {"a b": {}}}`), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", conf}, &stdout, &stderr, nil); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	for _, want := range []string{"not a loopback address", "neither \"memory\" nor", "below Postfix's 100 s", "max_connections", "invalid name"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("errors lack %q:\n%s", want, &stderr)
		}
	}
	os.WriteFile(conf, []byte(`{"listn": "x"}`), 0o600)
	stderr.Reset()
	if code := run(context.Background(), []string{"-config", conf}, &stdout, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), "unknown field") {
		t.Errorf("misspelt field: status %d, %s", code, &stderr)
	}
}
