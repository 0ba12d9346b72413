package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

// pebble is Debian's pebble ACME test server, started by startPebble.
type pebble struct {
	directory string         // the ACME directory URL
	rootsFile string         // PEM of the CA of pebble's own HTTPS
	roots     *x509.CertPool // that CA
	mgmt      string         // the management address, host:port
	log       *outputLog
	stop      func() // ends pebble
}

// needPebble skips the test when pebble is not installed, except in CI.
func needPebble(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pebble"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pebble is not installed (.ci/run installs it): %v", err)
		}
		t.Skip("pebble is not installed (apt-get install pebble); skipping the ACME tests")
	}
}

// freePort returns a loopback port that was free a moment ago, for the
// listeners of pebble, which takes no listener from its caller.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPebble starts pebble until the test ends. It resolves names with
// the DNS server at dnsAddr and validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of the addresses it resolves.
func startPebble(t *testing.T, dnsAddr string, httpPort, tlsPort int) *pebble {
	t.Helper()
	dir := t.TempDir()
	ca, err := world.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, _ := issueFiles(t, ca, dir, "localhost")
	p := &pebble{rootsFile: writeFile(t, dir, "roots.pem", string(ca.PEM)), roots: ca.Pool}
	// A port pebble is given may be taken by then: try again with others.
	for try := 1; ; try++ {
		err := p.start(t, dir, certFile, keyFile, dnsAddr, httpPort, tlsPort)
		if err == nil {
			return p
		}
		if try == 3 {
			t.Fatalf("pebble: %v; its output:\n%s", err, p.log)
		}
	}
}

func (p *pebble) start(t *testing.T, dir, certFile, keyFile, dnsAddr string, httpPort, tlsPort int) error {
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.mgmt = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.directory = "https://localhost:" + strings.TrimPrefix(listen, "127.0.0.1:") + "/dir"
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        p.mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}})
	if err != nil {
		return err
	}
	configFile := writeFile(t, dir, "pebble.json", string(config))
	cmd := exec.Command("pebble", "-config", configFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	p.log = newOutputLog()
	exited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		announced := false
		for sc.Scan() {
			p.log.add(false, []byte(sc.Text()+"\n"))
			if !announced && strings.Contains(sc.Text(), "ACME directory available at") {
				announced = true
				close(ready)
			}
		}
		cmd.Wait()
	}()
	p.stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(p.stop)
	select {
	case <-ready:
	case <-exited:
		return errors.New("pebble ended before it served")
	}
	// pebble announces its directory just before it binds the port: wait
	// until the directory answers, or pebble ends.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}}
	for {
		resp, err := client.Get(p.directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			return fmt.Errorf("GET %s: %s", p.directory, resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("pebble ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// issuerRoots returns the root of the certificates pebble issues, from its
// management interface.
func (p *pebble) issuerRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}}
	resp, err := client.Get("https://localhost:" + strings.TrimPrefix(p.mgmt, "127.0.0.1:") + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pem, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble's root: %s, %v", resp.Status, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebble's root: no certificate in %q", pem)
	}
	return pool
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// listeners is a listen function that hands out listeners made before the
// program starts, so that pebble can be told their ports.
func listeners(lns ...net.Listener) func(network, address string) (net.Listener, error) {
	var mu sync.Mutex
	return func(_, address string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		for i, ln := range lns {
			if ln != nil && ln.Addr().String() == address {
				lns[i] = nil
				return ln, nil
			}
		}
		return nil, fmt.Errorf("no test listener for %s", address)
	}
}

func loopbackListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &countingListener{Listener: ln}
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// acmeSetup is a DNS server that points mta-sts.a.example,
// mta-sts.b.example and mta-sts.c.example at 127.0.0.1, and a
// configuration of a.example and b.example only.
func acmeSetup(t *testing.T) (dnsAddr, config string) {
	t.Helper()
	dns, err := world.ListenDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		dns.SetA("mta-sts."+d, 60, netip.MustParseAddr("127.0.0.1"))
	}
	config = writeFile(t, t.TempDir(), "policyhost.json", `{"domains": [
		{"domain": "a.example", "mode": "enforce", "mx": ["mx.a.example"], "max_age": 1209600},
		{"domain": "b.example", "mode": "testing", "mx": ["*.mx.b.example"], "max_age": 604800}]}`)
	return dns.Addr, config
}

// checkIssued waits for the certificates of a.example and b.example,
// fetches both policies over them as a sender does, and checks that
// c.example, which DNS points at the host but nobody configured, gets no
// certificate.
func checkIssued(t *testing.T, r *running, pb *pebble, cache string) {
	t.Helper()
	for range 2 {
		r.waitFor(false, `^[ab]\.example: certificate for mta-sts\.[ab]\.example valid until `)
	}
	roots := pb.issuerRoots(t)
	client := clientTo(r.addr, roots, nil)
	for d, want := range map[string]string{
		"a.example": "version: STSv1\r\nmode: enforce\r\nmx: mx.a.example\r\nmax_age: 1209600\r\n",
		"b.example": "version: STSv1\r\nmode: testing\r\nmx: *.mx.b.example\r\nmax_age: 604800\r\n",
	} {
		p, err := mtasts.Fetch(t.Context(), client, d)
		if err != nil {
			t.Errorf("Fetch(%s): %v", d, err)
		} else if p.String() != want {
			t.Errorf("Fetch(%s) = %q, want %q", d, p, want)
		}
	}
	conn, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "mta-sts.a.example", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "mta-sts.a.example" || !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble Intermediate CA") {
		t.Errorf("certificate of mta-sts.a.example: names %q, issuer %q", leaf.DNSNames, leaf.Issuer)
	}

	// The unconfigured name: the handshake is refused by the host policy,
	// and nothing about it reaches the cache (nor the CA).
	_, err = mtasts.Fetch(t.Context(), client, "c.example")
	var fe *mtasts.FetchError
	if !errors.As(err, &fe) || fe.Reason != mtasts.FetchNetwork && fe.Reason != mtasts.FetchWebPKI {
		t.Errorf("Fetch(c.example) = %v, want a failed handshake", err)
	}
	r.waitFor(true, `TLS handshake error .*mtasts: unknown policy domain: c\.example`)
	files, err := filepath.Glob(filepath.Join(cache, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		if strings.Contains(f, "c.example") {
			t.Errorf("the cache holds %s", f)
		}
	}
	t.Logf("cache: %q", names)
}

// TestACMETLSALPN01 gets the certificates of two configured domains from
// pebble, which validates with TLS-ALPN-01 on the policy port itself.
func TestACMETLSALPN01(t *testing.T) {
	needPebble(t)
	dnsAddr, config := acmeSetup(t)
	tlsLn := loopbackListener(t)
	// Nothing answers HTTP-01: the port pebble would try is a closed one.
	pb := startPebble(t, dnsAddr, freePort(t), port(tlsLn))
	cache := t.TempDir()
	r := start(t, listeners(tlsLn), "-config", config, "-addr", tlsLn.Addr().String(),
		"-acme-cache", cache, "-acme-directory", pb.directory, "-acme-roots", pb.rootsFile, "-acme-email", "hostmaster@provider.example")
	checkIssued(t, r, pb, cache)

	// A domain added by a reload gets its certificate, and only then are
	// its records printed: its policy must be fetchable before senders
	// learn of it (RFC 8461 §8.1).
	writeFile(t, filepath.Dir(config), filepath.Base(config), `{"domains": [
		{"domain": "a.example", "mode": "enforce", "mx": ["mx.a.example"], "max_age": 1209600},
		{"domain": "b.example", "mode": "testing", "mx": ["*.mx.b.example"], "max_age": 604800},
		{"domain": "c.example", "mode": "testing", "mx": ["mx.c.example"], "max_age": 604800}]}`)
	r.sendReload()
	r.waitFor(false, `^reloaded .*: 3 domains; 1 added, 0 changed, 0 removed$`)
	if m := r.waitFor(false, `^c\.example: (certificate for mta-sts\.c\.example valid until|serving policy id)`); !strings.HasPrefix(m[1], "certificate") {
		t.Errorf("the records of c.example come before its certificate")
	}
	r.waitFor(false, `^c\.example: serving policy id [0-9a-f]{32} \(mode testing\); publish now`)
	r.waitFor(false, `^_mta-sts\.c\.example\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{32}"$`)
	if _, err := mtasts.Fetch(t.Context(), clientTo(r.addr, pb.issuerRoots(t), nil), "c.example"); err != nil {
		t.Errorf("Fetch(c.example) after the reload: %v", err)
	}

	// A restart takes the certificates from the cache, without the CA.
	roots := pb.issuerRoots(t)
	pb.stop()
	ln := loopbackListener(t)
	r2 := start(t, listeners(ln), "-config", config, "-addr", ln.Addr().String(),
		"-acme-cache", cache, "-acme-directory", pb.directory, "-acme-roots", pb.rootsFile)
	for range 3 {
		r2.waitFor(false, `^[abc]\.example: certificate for mta-sts\.[abc]\.example valid until `)
	}
	if _, err := mtasts.Fetch(t.Context(), clientTo(r2.addr, roots, nil), "b.example"); err != nil {
		t.Errorf("Fetch(b.example) after the restart: %v", err)
	}
}

// TestACMEHTTP01 gets the certificates with HTTP-01 on -http-addr when
// TLS-ALPN-01 fails, as it does where port 443 is not reachable from the
// CA.
func TestACMEHTTP01(t *testing.T) {
	needPebble(t)
	dnsAddr, config := acmeSetup(t)
	tlsLn := loopbackListener(t)
	httpLn := loopbackListener(t)
	// pebble's TLS-ALPN-01 port: a listener that closes every connection.
	closing := loopbackListener(t)
	go func() {
		for {
			c, err := closing.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pb := startPebble(t, dnsAddr, port(httpLn), port(closing))
	cache := t.TempDir()
	r := start(t, listeners(tlsLn, httpLn), "-config", config, "-addr", tlsLn.Addr().String(), "-http-addr", httpLn.Addr().String(),
		"-acme-cache", cache, "-acme-directory", pb.directory, "-acme-roots", pb.rootsFile)
	r.waitFor(false, `^answering ACME HTTP-01 challenges on http://`+httpLn.Addr().String()+`$`)
	checkIssued(t, r, pb, cache)
	if closing.n.Load() == 0 || httpLn.n.Load() == 0 {
		t.Errorf("pebble tried TLS-ALPN-01 %d times and HTTP-01 %d times; want both", closing.n.Load(), httpLn.n.Load())
	}
}
