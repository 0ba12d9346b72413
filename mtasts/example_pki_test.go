package mtasts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"time"
)

// examplePKI is a throw-away certificate authority for the examples. In
// production its part is played by a public CA (for the server) and the
// system roots (for the client).
type examplePKI struct {
	roots *x509.CertPool
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
}

func newExamplePKI() *examplePKI {
	key := exampleMust(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Example Root CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert := exampleMust(x509.ParseCertificate(exampleMust(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))))
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &examplePKI{roots: roots, cert: cert, key: key}
}

// certificate issues a server certificate for the DNS names, valid for a
// day from an hour ago.
func (p *examplePKI) certificate(names ...string) tls.Certificate {
	key := exampleMust(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der := exampleMust(x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// client returns an HTTP client that trusts the example CA and connects to
// addr whatever host name a URL holds, standing in for DNS.
func (p *examplePKI) client(addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: p.roots},
	}}
}

func exampleMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
