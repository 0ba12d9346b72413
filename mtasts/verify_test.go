package mtasts

import (
	"github.com/smtpsec/smtpsec/internal/loopback"

	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// checkCertError asserts that err is a *CertificateError with the given
// reason and host, and that it unwraps to the crypto/x509 error type that
// a TLS-RPT classifier looks for.
func checkCertError(t *testing.T, err error, want CertificateFailure, wantHost string) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	var ce *CertificateError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *CertificateError", err, err)
	}
	if ce.Reason != want {
		t.Fatalf("Reason = %v, want %v (err: %v)", ce.Reason, want, err)
	}
	if ce.Host != wantHost {
		t.Errorf("Host = %q, want %q", ce.Host, wantHost)
	}
	var (
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		unknown  x509.UnknownAuthorityError
	)
	switch want {
	case CertificateExpired:
		if !errors.As(err, &invalid) || invalid.Reason != x509.Expired || !strings.Contains(invalid.Detail, " is after ") {
			t.Errorf("err %v does not unwrap to x509.CertificateInvalidError{Reason: x509.Expired, Detail: \"... is after ...\"}", err)
		}
	case CertificateNotTrusted:
		if !errors.As(err, &unknown) && !(errors.As(err, &invalid) && invalid.Reason != x509.Expired) {
			t.Errorf("err %v does not unwrap to x509.UnknownAuthorityError or a chain-building x509.CertificateInvalidError", err)
		}
	case CertificateHostMismatch:
		if !errors.As(err, &hostname) {
			t.Errorf("err %v does not unwrap to x509.HostnameError", err)
		}
	case CertificateInvalid:
		if errors.As(err, &hostname) || errors.As(err, &unknown) ||
			(errors.As(err, &invalid) && invalid.Reason == x509.Expired && !strings.Contains(invalid.Detail, " is before ")) {
			t.Errorf("err %v unwraps to an error of another failure", err)
		}
	}
	if !strings.Contains(err.Error(), wantHost) || !strings.Contains(err.Error(), want.String()) {
		t.Errorf("Error() = %q, want it to name %q and %q", err.Error(), wantHost, want)
	}
}

func TestVerifyMXCertificate(t *testing.T) {
	now := time.Now()
	ca, other := loopback.NewCA(t), loopback.NewCA(t)
	inter := ca.Intermediate(t, loopback.CertSpec{})
	expiredInter := ca.Intermediate(t, loopback.CertSpec{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	futureInter := ca.Intermediate(t, loopback.CertSpec{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)})
	notCA := ca.Intermediate(t, loopback.CertSpec{NotCA: true})
	expired := loopback.CertSpec{DNSNames: []string{"mx1.example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}
	future := loopback.CertSpec{DNSNames: []string{"mx1.example.com"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}
	exact := loopback.CertSpec{DNSNames: []string{"mx1.example.com"}}
	wildcard := loopback.CertSpec{DNSNames: []string{"*.example.com"}}

	tests := []struct {
		name     string
		cert     tls.Certificate
		host     string
		want     CertificateFailure
		wantHost string
	}{
		{"exact SAN", ca.Issue(t, exact), "mx1.example.com", 0, ""},
		{"one of several SANs", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx0.example.net", "mx1.example.com"}}), "mx1.example.com", 0, ""},
		{"wildcard covers one label", ca.Issue(t, wildcard), "mx1.example.com", 0, ""},
		{"wildcard does not cover two labels", ca.Issue(t, wildcard), "a.b.example.com", CertificateHostMismatch, "a.b.example.com"},
		{"wildcard does not cover the parent", ca.Issue(t, wildcard), "example.com", CertificateHostMismatch, "example.com"},
		{"partial-label wildcard is literal", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx*.example.com"}}), "mx1.example.com", CertificateHostMismatch, "mx1.example.com"},
		{"wildcard not left-most is literal", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx.*.example.com"}}), "mx.a.example.com", CertificateHostMismatch, "mx.a.example.com"},
		{"CN only", ca.Issue(t, loopback.CertSpec{CommonName: "mx1.example.com"}), "mx1.example.com", CertificateHostMismatch, "mx1.example.com"},
		{"CN matches, SAN does not", ca.Issue(t, loopback.CertSpec{CommonName: "mx1.example.com", DNSNames: []string{"mx2.example.com"}}), "mx1.example.com", CertificateHostMismatch, "mx1.example.com"},
		{"host case and trailing dot", ca.Issue(t, exact), "MX1.Example.COM.", 0, ""},
		{"host mismatch names normalised host", ca.Issue(t, exact), "MX2.Example.COM.", CertificateHostMismatch, "mx2.example.com"},
		{"U-label host, A-label SAN", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"xn--mil-qla.example.com"}}), "mäil.example.com", 0, ""},
		{"U-label host, wildcard SAN", ca.Issue(t, wildcard), "MÄIL.example.com", 0, ""},
		{"U-label host mismatch", ca.Issue(t, exact), "mäil.example.com", CertificateHostMismatch, "xn--mil-qla.example.com"},
		{"IP host with IP SAN", ca.Issue(t, loopback.CertSpec{IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}), "192.0.2.1", CertificateHostMismatch, "192.0.2.1"},
		{"invalid host", ca.Issue(t, exact), "mx1..example.com", CertificateHostMismatch, "mx1..example.com"},
		{"expired", ca.Issue(t, expired), "mx1.example.com", CertificateExpired, "mx1.example.com"},
		{"not yet valid", ca.Issue(t, future), "mx1.example.com", CertificateInvalid, "mx1.example.com"},
		{"intermediate not yet valid", loopback.Chain(futureInter.Issue(t, exact), futureInter), "mx1.example.com", CertificateInvalid, "mx1.example.com"},
		{"intermediate without CA rights", loopback.Chain(notCA.Issue(t, exact), notCA), "mx1.example.com", CertificateNotTrusted, "mx1.example.com"},
		{"unknown CA", other.Issue(t, exact), "mx1.example.com", CertificateNotTrusted, "mx1.example.com"},
		{"expired and unknown CA: expiry first", other.Issue(t, expired), "mx1.example.com", CertificateExpired, "mx1.example.com"},
		{"expired and wrong name: expiry first", ca.Issue(t, expired), "mx9.example.com", CertificateExpired, "mx9.example.com"},
		{"unknown CA and wrong name: trust before name", other.Issue(t, exact), "mx9.example.com", CertificateNotTrusted, "mx9.example.com"},
		{"via intermediate", loopback.Chain(inter.Issue(t, exact), inter), "mx1.example.com", 0, ""},
		{"intermediate not sent", inter.Issue(t, exact), "mx1.example.com", CertificateNotTrusted, "mx1.example.com"},
		{"expired intermediate", loopback.Chain(expiredInter.Issue(t, exact), expiredInter), "mx1.example.com", CertificateExpired, "mx1.example.com"},
		{"client-only key usage", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}), "mx1.example.com", CertificateInvalid, "mx1.example.com"},
		{"no certificate", tls.Certificate{}, "mx1.example.com", CertificateInvalid, "mx1.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyMXCertificate(loopback.X509Chain(t, tt.cert), tt.host, VerifyOptions{Roots: ca.Pool})
			checkCertError(t, err, tt.want, tt.wantHost)
		})
	}
}

func TestVerifyMXCertificateClock(t *testing.T) {
	ca := loopback.NewCA(t)
	cert := ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}})
	certs := loopback.X509Chain(t, cert)
	leaf := certs[0]
	for _, tt := range []struct {
		name string
		at   time.Time
		want CertificateFailure
	}{
		{"first second", leaf.NotBefore, 0},
		{"last second", leaf.NotAfter, 0},
		{"before", leaf.NotBefore.Add(-time.Second), CertificateInvalid},
		{"after", leaf.NotAfter.Add(time.Second), CertificateExpired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := VerifyOptions{Roots: ca.Pool, Now: func() time.Time { return tt.at }}
			checkCertError(t, VerifyMXCertificate(certs, "mx1.example.com", opts), tt.want, "mx1.example.com")
		})
	}
}

func TestCertificateFailureString(t *testing.T) {
	for f, want := range map[CertificateFailure]string{
		CertificateExpired:      "expired",
		CertificateNotTrusted:   "not trusted",
		CertificateHostMismatch: "host mismatch",
		CertificateInvalid:      "invalid",
		0:                       "CertificateFailure(0)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
}

func TestMXTLSConfigServerName(t *testing.T) {
	for host, want := range map[string]string{
		"mx1.example.com":   "mx1.example.com",
		"MX1.Example.COM.":  "mx1.example.com",
		"mäil.example.com.": "xn--mil-qla.example.com",
	} {
		if got := MXTLSConfig(host, VerifyOptions{}).ServerName; got != want {
			t.Errorf("MXTLSConfig(%q).ServerName = %q, want %q", host, got, want)
		}
	}
}

// startTLS opens an SMTP session to addr and upgrades it with STARTTLS
// using cfg, as a sending MTA does. It returns the connection state.
func startTLS(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer func() { _ = c.Close() }()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("server does not offer STARTTLS")
	}
	if err := c.StartTLS(cfg); err != nil {
		return tls.ConnectionState{}, err
	}
	state, ok := c.TLSConnectionState()
	if !ok {
		t.Fatal("no TLS after STARTTLS")
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return state, nil
}

// TestMXTLSConfigSTARTTLS runs the checks in real STARTTLS handshakes with
// an SMTP server on loopback.
func TestMXTLSConfigSTARTTLS(t *testing.T) {
	now := time.Now()
	ca, other := loopback.NewCA(t), loopback.NewCA(t)
	inter := ca.Intermediate(t, loopback.CertSpec{})
	tests := []struct {
		name string
		cert tls.Certificate
		host string
		want CertificateFailure
	}{
		{"valid", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}}), "mx1.example.com", 0},
		{"valid with intermediate", loopback.Chain(inter.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}}), inter), "mx1.example.com", 0},
		{"wildcard for mx1", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"*.example.com"}}), "mx1.example.com", 0},
		{"wildcard for a.b", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"*.example.com"}}), "a.b.example.com", CertificateHostMismatch},
		{"CN only", ca.Issue(t, loopback.CertSpec{CommonName: "mx1.example.com"}), "mx1.example.com", CertificateHostMismatch},
		{"expired", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}), "mx1.example.com", CertificateExpired},
		{"unknown CA", other.Issue(t, loopback.CertSpec{DNSNames: []string{"mx1.example.com"}}), "mx1.example.com", CertificateNotTrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := loopback.SMTP(t, tt.cert)
			state, err := startTLS(t, addr, MXTLSConfig(tt.host, VerifyOptions{Roots: ca.Pool}))
			checkCertError(t, err, tt.want, tt.host)
			if tt.want == 0 && !state.HandshakeComplete {
				t.Error("handshake not complete")
			}
		})
	}
}

// TestVerifyMXCertificateTestingMode shows the testing-mode flow: deliver
// over TLS whatever the certificate, then learn what to report.
func TestVerifyMXCertificateTestingMode(t *testing.T) {
	ca := loopback.NewCA(t)
	addr := loopback.SMTP(t, ca.Issue(t, loopback.CertSpec{DNSNames: []string{"*.example.com"}}))
	state, err := startTLS(t, addr, &tls.Config{ServerName: "a.b.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("STARTTLS without verification: %v", err)
	}
	err = VerifyMXCertificate(state.PeerCertificates, "a.b.example.com", VerifyOptions{Roots: ca.Pool})
	checkCertError(t, err, CertificateHostMismatch, "a.b.example.com")
}
