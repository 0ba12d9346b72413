package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

const sample = "policyhost.json"

// outputLog is everything the program wrote, split into lines per
// stream, which tests wait for.
type outputLog struct {
	mu      sync.Mutex
	text    [2]strings.Builder // stdout, stderr
	partial [2][]byte          // a line not ended yet
	lines   [2][]string
	next    [2]int        // the first line waitFor has not looked at
	changed chan struct{} // closed and replaced at every new line
	closed  bool          // the program has ended
}

func newOutputLog() *outputLog { return &outputLog{changed: make(chan struct{})} }

// stream returns the index of stdout (false) or stderr (true).
func stream(stderr bool) int {
	if stderr {
		return 1
	}
	return 0
}

func (l *outputLog) add(stderr bool, p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := stream(stderr)
	l.text[s].Write(p)
	l.partial[s] = append(l.partial[s], p...)
	for {
		i := bytes.IndexByte(l.partial[s], '\n')
		if i < 0 {
			break
		}
		l.lines[s] = append(l.lines[s], string(l.partial[s][:i]))
		l.partial[s] = l.partial[s][i+1:]
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// close marks the end of the output.
func (l *outputLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.changed)
}

func (l *outputLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "stdout:\n" + l.text[0].String() + "stderr:\n" + l.text[1].String()
}

// writer returns the program's stdout or stderr.
func (l *outputLog) writer(stderr bool) io.Writer { return logWriter{l, stderr} }

type logWriter struct {
	log    *outputLog
	stderr bool
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.add(w.stderr, p)
	return len(p), nil
}

// running is the program started by start.
type running struct {
	t      *testing.T
	addr   string         // where it serves policies
	reload chan os.Signal // its SIGHUP
	ticks  chan time.Time // the ticks of its -watch
	log    *outputLog
}

// start runs the program with args until the test ends, with listen as
// its listen function (nil: net.Listen), and returns once it serves.
func start(t *testing.T, listen func(network, address string) (net.Listener, error), args ...string) *running {
	t.Helper()
	if listen == nil {
		listen = net.Listen
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, reload: make(chan os.Signal), ticks: make(chan time.Time), log: newOutputLog()}
	e := &env{
		stdout:     r.log.writer(false),
		stderr:     r.log.writer(true),
		reload:     r.reload,
		executable: func() (string, error) { return "", errors.New("no binary in tests") },
		listen:     listen,
		ticker:     func(time.Duration) (<-chan time.Time, func()) { return r.ticks, func() {} },
	}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, args, e)
		r.log.close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("run = %d; output:\n%s", code, r.log)
		}
	})
	m := r.waitFor(false, `^serving the policies of \d+ domains on https?://(\S+)/\.well-known/mta-sts\.txt `)
	r.addr = m[1]
	return r
}

// waitFor returns the submatches of the first line of stdout (or stderr)
// that matches pattern among those that no earlier waitFor on the stream
// looked at; it fails the test if the program ends first.
func (r *running) waitFor(stderr bool, pattern string) []string {
	r.t.Helper()
	re := regexp.MustCompile(pattern)
	l, s := r.log, stream(stderr)
	for {
		l.mu.Lock()
		for ; l.next[s] < len(l.lines[s]); l.next[s]++ {
			if m := re.FindStringSubmatch(l.lines[s][l.next[s]]); m != nil {
				l.next[s]++
				l.mu.Unlock()
				return m
			}
		}
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			r.t.Fatalf("the program ended before printing a line matching %q; output:\n%s", pattern, l)
		}
		<-changed
	}
}

// sendReload delivers a SIGHUP.
func (r *running) sendReload() { r.reload <- os.Interrupt }

// getHTTP gets the policy of host from the program serving plain HTTP.
func (r *running) getHTTP(host string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest("GET", "http://"+r.addr+mtasts.PolicyPath, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, body
}

// tick delivers a tick of -watch.
func (r *running) tick() { r.ticks <- time.Time{} }

// runQuick runs the program to its end with args and returns its exit
// status and output.
func runQuick(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, executable: func() (string, error) { return "", errors.New("no binary in tests") }, listen: net.Listen}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // a server that would start stops at once
	code = run(ctx, args, e)
	return code, out.String(), errOut.String()
}

// writeFile writes data to a new file in dir and returns its name.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// certFiles writes a certificate for names, issued by a new CA, and its
// key to files, and returns their names and the CA's pool.
func certFiles(t *testing.T, names ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	ca, err := world.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return issueFiles(t, ca, t.TempDir(), names...)
}

// issueFiles writes a certificate of ca for names and its key to files in
// dir.
func issueFiles(t *testing.T, ca *world.CA, dir string, names ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := ca.IssuePEM(names...)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := errors.Join(os.WriteFile(certFile, certPEM, 0o600), os.WriteFile(keyFile, keyPEM, 0o600)); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca.Pool
}

// clientTo returns an HTTP client that connects every host name to addr
// and trusts roots, counting its connections in dials if not nil.
func clientTo(addr string, roots *x509.CertPool, dials *int) *http.Client {
	var d net.Dialer
	var mu sync.Mutex
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			if dials != nil {
				mu.Lock()
				*dials++
				mu.Unlock()
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

// policyConfig is a configuration of one domain per entry of mx, each in
// mode testing with max_age one week.
func policyConfig(domains map[string]string) string {
	var parts []string
	for d, mx := range domains {
		parts = append(parts, fmt.Sprintf(`{"domain": %q, "mode": "testing", "mx": [%q], "max_age": 604800}`, d, mx))
	}
	return `{"domains": [` + strings.Join(parts, ", ") + `]}`
}
