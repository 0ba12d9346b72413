package policycache_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// site is what the test policy host serves for one policy domain.
type site struct {
	Policy      string
	Status      int    // 200 when zero
	ContentType string // text/plain when empty
	Location    string // sent with a 3xx status
	// CertName, when set, is the only name in the certificate presented
	// for mta-sts.<domain> (to test certificate name checks).
	CertName string
	// Unreachable makes connections to mta-sts.<domain> fail.
	Unreachable bool
}

// policyHost is a real HTTPS server on 127.0.0.1 serving the policy files
// of many policy domains at https://mta-sts.<domain>/.well-known/mta-sts.txt,
// with certificates issued on the fly by a CA made for the test. Its
// Client reaches it for any mta-sts.<domain>:443 and trusts only that CA.
type policyHost struct {
	srv    *httptest.Server
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	roots  *x509.CertPool

	mu       sync.Mutex
	sites    map[string]site
	requests map[string]int
	hellos   map[string]int
	certs    map[string]*tls.Certificate
	changed  chan struct{} // closed and replaced at every request
	// gate, when set, holds every request until it is closed.
	gate chan struct{}
}

func newPolicyHost(t tb) *policyHost {
	t.Helper()
	h := &policyHost{sites: map[string]site{}, requests: map[string]int{}, hellos: map[string]int{}, certs: map[string]*tls.Certificate{}, changed: make(chan struct{})}
	h.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "policycache test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &h.caKey.PublicKey, h.caKey)
	if err != nil {
		t.Fatal(err)
	}
	h.caCert, _ = x509.ParseCertificate(der)
	h.roots = x509.NewCertPool()
	h.roots.AddCert(h.caCert)

	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	h.srv.TLS = &tls.Config{GetCertificate: h.certificate}
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

func newKey(t tb) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Serve serves policy for domain with status 200 and text/plain.
func (h *policyHost) Serve(domain, policy string) { h.Set(domain, site{Policy: policy}) }

// Set programs what is served for domain.
func (h *policyHost) Set(domain string, s site) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sites[domain] = s
}

// Requests reports how many policy requests for domain arrived.
func (h *policyHost) Requests(domain string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[domain]
}

// WaitRequests waits until n policy requests for domain have arrived.
func (h *policyHost) WaitRequests(domain string, n int) {
	for {
		h.mu.Lock()
		if h.requests[domain] >= n {
			h.mu.Unlock()
			return
		}
		ch := h.changed
		h.mu.Unlock()
		<-ch
	}
}

// Connections reports how many TLS connections to mta-sts.<domain> were
// attempted, successful or not.
func (h *policyHost) Connections(domain string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hellos[domain]
}

// Hold makes requests wait until the returned function is called.
func (h *policyHost) Hold() (release func()) {
	gate := make(chan struct{})
	h.mu.Lock()
	h.gate = gate
	h.mu.Unlock()
	return sync.OnceFunc(func() { close(gate) })
}

func (h *policyHost) serve(w http.ResponseWriter, r *http.Request) {
	domain, ok := strings.CutPrefix(r.Host, "mta-sts.")
	h.mu.Lock()
	h.requests[domain]++
	close(h.changed)
	h.changed = make(chan struct{})
	s, known := h.sites[domain]
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if !ok || !known || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	ct := s.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	if s.Location != "" {
		w.Header().Set("Location", s.Location)
	}
	status := s.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte(s.Policy))
}

// certificate issues a certificate for the name the client asks for (or
// the site's CertName).
func (h *policyHost) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hellos[strings.TrimPrefix(name, "mta-sts.")]++
	if s, ok := h.sites[strings.TrimPrefix(name, "mta-sts.")]; ok && s.CertName != "" {
		name = s.CertName
	}
	if c, ok := h.certs[name]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(h.certs) + 2)),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, h.caCert, &key.PublicKey, h.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	h.certs[name] = c
	return c, nil
}

// Client returns an HTTP client that connects to the policy host whatever
// mta-sts.<domain> it is asked for, and trusts the test CA only.
func (h *policyHost) Client() *http.Client {
	addr := h.srv.Listener.Addr().String()
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(hostport)
			if err != nil || port != "443" || !strings.HasPrefix(host, "mta-sts.") {
				return nil, errors.New("test dialer: unexpected address " + hostport)
			}
			h.mu.Lock()
			s := h.sites[strings.TrimPrefix(host, "mta-sts.")]
			h.mu.Unlock()
			if s.Unreachable {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
			}
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: h.roots},
		DisableKeepAlives: true,
	}}
}
