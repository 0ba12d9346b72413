// Package loopback holds the test servers and the test PKI shared by the
// tests of several packages: a throw-away CA that issues certificates with
// chosen names and validity, SMTP servers with and without STARTTLS (and
// ones that misbehave), and an HTTPS server with a client that reaches it
// under any host name. Everything listens on 127.0.0.1 only and stops when
// the test ends. It is imported by _test.go files only.
//
//	ca := loopback.NewCA(t)
//	cert := ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}})
//	addr := loopback.SMTP(t, cert)
//	ca.Pool // *x509.CertPool trusting only this CA
package loopback

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	// Cert is the CA certificate and Key its private key.
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Pool trusts this CA and nothing else.
	Pool *x509.CertPool
}

// CertSpec describes a certificate to issue. Zero times mean "valid from an
// hour ago for a day", relative to the wall clock, so that certificates work
// with crypto/tls servers and clients that use time.Now.
type CertSpec struct {
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	NotBefore   time.Time
	NotAfter    time.Time
	// ExtKeyUsage defaults to TLS server authentication.
	ExtKeyUsage []x509.ExtKeyUsage
	// IsCA makes an intermediate CA certificate (see CA.intermediate).
	IsCA bool
	// NotCA, for CA.intermediate, issues the intermediate with
	// basicConstraints cA=false: a "CA" that may not sign certificates.
	NotCA bool
}

// NewCA returns a self-signed root CA valid from a day ago for ten years.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newTestKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: "smtpsec test root CA", Organization: []string{"smtpsec tests"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool}
}

// Issue signs a certificate for spec and returns it as a tls.Certificate
// whose chain holds just the new certificate (Leaf is set).
func (ca *CA) Issue(t testing.TB, spec CertSpec) tls.Certificate {
	t.Helper()
	key := newTestKey(t)
	cert := ca.sign(t, spec, &key.PublicKey)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// Intermediate returns a CA certificate signed by ca, valid as spec says
// (IsCA is forced), as a CA that can issue leaves in turn. Chains built
// from it must carry the intermediate: see Chain.
func (ca *CA) Intermediate(t testing.TB, spec CertSpec) *CA {
	t.Helper()
	key := newTestKey(t)
	spec.IsCA = true
	if spec.CommonName == "" {
		spec.CommonName = "smtpsec test intermediate CA"
	}
	cert := ca.sign(t, spec, &key.PublicKey)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool}
}

// Chain appends the certificates of intermediates (leaf first order is
// kept: pass the issuing intermediate first) to cert's chain.
func Chain(cert tls.Certificate, intermediates ...*CA) tls.Certificate {
	for _, ica := range intermediates {
		cert.Certificate = append(cert.Certificate, ica.Cert.Raw)
	}
	return cert
}

// sign signs a certificate for spec and pub with ca.
func (ca *CA) sign(t testing.TB, spec CertSpec, pub *ecdsa.PublicKey) *x509.Certificate {
	t.Helper()
	now := time.Now()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now.Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t),
		Subject:      pkix.Name{CommonName: spec.CommonName},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPAddresses,
		NotBefore:    spec.NotBefore,
		NotAfter:     spec.NotAfter,
	}
	if spec.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
		tmpl.BasicConstraintsValid = true
		tmpl.IsCA = !spec.NotCA
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = spec.ExtKeyUsage
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatalf("create certificate %+v: %v", spec, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

// X509Chain returns the parsed certificates of cert's chain, leaf first, as
// a TLS client sees them in ConnectionState.PeerCertificates.
func X509Chain(t testing.TB, cert tls.Certificate) []*x509.Certificate {
	t.Helper()
	out := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("parse certificate: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// newTestKey returns a new P-256 key.
func newTestKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

// newSerial returns a random certificate serial number.
func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	return n
}
