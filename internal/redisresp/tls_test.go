package redisresp_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/smtpsec/smtpsec/internal/loopback"
	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
)

// TestClientTLS: a rediss:// URL against redis-server's TLS port, with a
// certificate of a CA made in the test; a client that does not trust the
// CA fails the handshake.
func TestClientTLS(t *testing.T) {
	ca := loopback.NewCA(t)
	cert := ca.Issue(t, loopback.CertSpec{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*pem.Block{
		"cert.pem": {Type: "CERTIFICATE", Bytes: cert.Leaf.Raw},
		"key.pem":  {Type: "PRIVATE KEY", Bytes: keyDER},
		"ca.pem":   {Type: "CERTIFICATE", Bytes: ca.Cert.Raw},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	redistest.Start(t, "--tls-port", tlsPort, "--tls-cert-file", filepath.Join(dir, "cert.pem"),
		"--tls-key-file", filepath.Join(dir, "key.pem"), "--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no")

	opts, err := redisresp.ParseURL("rediss://127.0.0.1:" + tlsPort + "/1")
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS == nil || opts.TLS.ServerName != "127.0.0.1" {
		t.Fatalf("TLS config %+v", opts.TLS)
	}
	untrusting := redisresp.NewClient(opts) // the system pool: no test CA
	defer untrusting.Close()
	if _, err := untrusting.Do(context.Background(), "PING"); err == nil {
		t.Error("PING without trusting the CA: no error")
	}
	opts.TLS = opts.TLS.Clone()
	opts.TLS.RootCAs = ca.Pool
	c := redisresp.NewClient(opts)
	defer c.Close()
	do(t, c, "SET", "k", "over TLS")
	if r := do(t, c, "GET", "k"); string(r.Bytes) != "over TLS" {
		t.Errorf("GET: %q", r.Bytes)
	}
}
