package mtasts

// Test PKI shared by every test file of the package: a throw-away CA, leaf
// certificates with chosen names and validity, and intermediates. Nothing
// here touches the network.
//
//	ca := newTestCA(t)
//	cert := ca.issue(t, certSpec{DNSNames: []string{"mx1.example.com"}})
//	ca.pool // *x509.CertPool trusting only this CA

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

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// pool trusts this CA and nothing else.
	pool *x509.CertPool
}

// certSpec describes a certificate to issue. Zero times mean "valid from an
// hour ago for a day", relative to the wall clock, so that certificates work
// with crypto/tls servers and clients that use time.Now.
type certSpec struct {
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	NotBefore   time.Time
	NotAfter    time.Time
	// ExtKeyUsage defaults to TLS server authentication.
	ExtKeyUsage []x509.ExtKeyUsage
	// IsCA makes an intermediate CA certificate (see testCA.intermediate).
	IsCA bool
	// NotCA, for testCA.intermediate, issues the intermediate with
	// basicConstraints cA=false: a "CA" that may not sign certificates.
	NotCA bool
}

// newTestCA returns a self-signed root CA valid from a day ago for ten years.
func newTestCA(t testing.TB) *testCA {
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
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a certificate for spec and returns it as a tls.Certificate
// whose chain holds just the new certificate (Leaf is set).
func (ca *testCA) issue(t testing.TB, spec certSpec) tls.Certificate {
	t.Helper()
	key := newTestKey(t)
	cert := ca.sign(t, spec, &key.PublicKey)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// intermediate returns a CA certificate signed by ca, valid as spec says
// (IsCA is forced), as a testCA that can issue leaves in turn. Chains built
// from it must carry the intermediate: see chain.
func (ca *testCA) intermediate(t testing.TB, spec certSpec) *testCA {
	t.Helper()
	key := newTestKey(t)
	spec.IsCA = true
	if spec.CommonName == "" {
		spec.CommonName = "smtpsec test intermediate CA"
	}
	cert := ca.sign(t, spec, &key.PublicKey)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// chain appends the certificates of intermediates (leaf first order is
// kept: pass the issuing intermediate first) to cert's chain.
func chain(cert tls.Certificate, intermediates ...*testCA) tls.Certificate {
	for _, ica := range intermediates {
		cert.Certificate = append(cert.Certificate, ica.cert.Raw)
	}
	return cert
}

func (ca *testCA) sign(t testing.TB, spec certSpec, pub *ecdsa.PublicKey) *x509.Certificate {
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatalf("create certificate %+v: %v", spec, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

// x509Chain returns the parsed certificates of cert's chain, leaf first, as
// a TLS client sees them in ConnectionState.PeerCertificates.
func x509Chain(t testing.TB, cert tls.Certificate) []*x509.Certificate {
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

func newTestKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	return n
}
