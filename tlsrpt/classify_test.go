package tlsrpt

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/smtp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCertAuthority is a certificate authority made for a test.
type testCertAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCertAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCertAuthority{cert: cert, key: key}
}

func (ca *testCertAuthority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// leaf issues a server certificate for names valid from notBefore to
// notAfter; a nil ca makes it self-signed.
func (ca *testCertAuthority) leaf(t *testing.T, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mxMode says how the test MX behaves.
type mxMode int

const (
	mxTLS        mxMode = iota // offers STARTTLS and does TLS with its certificate
	mxNoSTARTTLS               // does not offer STARTTLS
	mxPlaintext                // answers STARTTLS, then does not speak TLS
	mxTLS13Only                // only TLS 1.3
	mxHangUp                   // closes the connection after answering STARTTLS
	mxSilent                   // answers STARTTLS, then says nothing
)

// startTestMX runs a minimal SMTP server on a random loopback port for one
// connection and returns its address.
func startTestMX(t *testing.T, mode mxMode, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		serveTestMX(conn, mode, cert)
	}()
	return ln.Addr().String()
}

// serveTestMX speaks just enough SMTP for starttlsSession: EHLO, STARTTLS, QUIT.
func serveTestMX(conn net.Conn, mode mxMode, cert tls.Certificate) {
	r := bufio.NewReader(conn)
	w := io.Writer(conn)
	fmt.Fprintf(w, "220 mx.example.test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			if mode == mxNoSTARTTLS {
				fmt.Fprintf(w, "250-mx.example.test\r\n250 PIPELINING\r\n")
			} else {
				fmt.Fprintf(w, "250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
			}
		case cmd == "STARTTLS":
			fmt.Fprintf(w, "220 2.0.0 Ready to start TLS\r\n")
			switch mode {
			case mxPlaintext:
				// Wait for the ClientHello, then answer in plain text.
				r.ReadByte()
				fmt.Fprintf(w, "500 5.5.1 what is TLS?\r\n")
				io.Copy(io.Discard, r)
				return
			case mxHangUp:
				return
			case mxSilent:
				io.Copy(io.Discard, r)
				return
			}
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
			if mode == mxTLS13Only {
				cfg.MinVersion = tls.VersionTLS13
			}
			tc := tls.Server(conn, cfg)
			if tc.Handshake() != nil {
				return
			}
			// Go on in TLS, as the client starts over with EHLO.
			r, w, mode = bufio.NewReader(tc), tc, mxNoSTARTTLS
		case cmd == "QUIT":
			fmt.Fprintf(w, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprintf(w, "250 ok\r\n")
		}
	}
}

// starttlsSession is the TLS part of an MTA's delivery: EHLO, STARTTLS (an error
// wrapping ErrSTARTTLSNotSupported when it is not offered) and the TLS
// handshake with cfg. Errors are wrapped as an MTA would.
func starttlsSession(addr string, cfg *tls.Config, deadline time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(deadline))
	c, err := smtp.NewClient(conn, "mx.example.test")
	if err != nil {
		return err
	}
	if err := c.Hello("sender.example"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("delivery to mx.example.test: %w", ErrSTARTTLSNotSupported)
	}
	if err := c.StartTLS(cfg); err != nil {
		return fmt.Errorf("delivery to mx.example.test: starttls: %w", err)
	}
	return c.Quit()
}

func TestClassifyHandshakes(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	other := newTestCA(t, "Unknown CA")
	now := time.Now()
	good := ca.leaf(t, []string{"mx.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	expired := ca.leaf(t, []string{"mx.example.test"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future := ca.leaf(t, []string{"mx.example.test"}, now.Add(24*time.Hour), now.Add(48*time.Hour))
	wrongName := ca.leaf(t, []string{"other.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	wildcardDeep := ca.leaf(t, []string{"*.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	unknownCA := other.leaf(t, []string{"mx.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	selfSigned := (*testCertAuthority)(nil).leaf(t, []string{"mx.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))

	clientCfg := func() *tls.Config {
		return &tls.Config{ServerName: "mx.example.test", RootCAs: ca.pool()}
	}
	// An MTA-STS-style verifier: it checks the chain itself and returns
	// the crypto/x509 error wrapped in its own.
	stsCfg := func(host string) *tls.Config {
		return &tls.Config{
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: ca.pool()})
				if err != nil {
					return fmt.Errorf("mtasts: MX certificate for %s: %w", host, err)
				}
				return nil
			},
		}
	}
	tests := []struct {
		name   string
		mode   mxMode
		cert   tls.Certificate
		cfg    *tls.Config
		result ResultType
		reason string // prefix of the reason code
	}{
		{"valid", mxTLS, good, clientCfg(), "", ""},
		{"expired", mxTLS, expired, clientCfg(), ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED"},
		{"not yet valid", mxTLS, future, clientCfg(), ResultValidationFailure, "X509_V_ERR_CERT_NOT_YET_VALID"},
		{"wrong name", mxTLS, wrongName, clientCfg(), ResultCertificateHostMismatch, "X509_V_ERR_HOSTNAME_MISMATCH"},
		{"unknown CA", mxTLS, unknownCA, clientCfg(), ResultCertificateNotTrusted, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"},
		{"self-signed", mxTLS, selfSigned, clientCfg(), ResultCertificateNotTrusted, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"},
		{"no STARTTLS", mxNoSTARTTLS, good, clientCfg(), ResultSTARTTLSNotSupported, ""},
		{"not TLS after STARTTLS", mxPlaintext, good, clientCfg(), ResultValidationFailure, "not a TLS record: "},
		{"no common TLS version", mxTLS13Only, good, &tls.Config{ServerName: "mx.example.test", RootCAs: ca.pool(), MaxVersion: tls.VersionTLS12},
			ResultValidationFailure, "TLS alert received: protocol version not supported"},
		{"hang-up during the handshake", mxHangUp, good, clientCfg(), ResultValidationFailure, "connection closed"},
		{"MTA-STS verifier: expired", mxTLS, expired, stsCfg("mx.example.test"), ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED"},
		{"MTA-STS verifier: wildcard one label too deep", mxTLS, wildcardDeep, stsCfg("a.mx.example.test"), ResultCertificateHostMismatch, "X509_V_ERR_HOSTNAME_MISMATCH"},
		{"MTA-STS verifier: unknown CA", mxTLS, unknownCA, stsCfg("mx.example.test"), ResultCertificateNotTrusted, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startTestMX(t, tt.mode, tt.cert)
			err := starttlsSession(addr, tt.cfg, 10*time.Second)
			if (err == nil) != (tt.result == "") {
				t.Fatalf("deliver: %v", err)
			}
			rt, reason := Classify(err)
			if rt != tt.result || !strings.HasPrefix(reason, tt.reason) || (tt.reason == "" && reason != "") {
				t.Errorf("Classify(%v) = %q, %q; want %q, %q", err, rt, reason, tt.result, tt.reason)
			}
		})
	}
}

func TestClassifyTimeout(t *testing.T) {
	addr := startTestMX(t, mxSilent, tls.Certificate{})
	// A short deadline: the server never answers the ClientHello.
	err := starttlsSession(addr, &tls.Config{ServerName: "mx.example.test"}, 300*time.Millisecond)
	if rt, reason := Classify(err); rt != ResultValidationFailure || reason != "timeout" {
		t.Errorf("Classify(%v) = %q, %q; want validation-failure, timeout", err, rt, reason)
	}
}

func TestClassifyConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = starttlsSession(addr, nil, time.Second)
	if rt, reason := Classify(err); rt != ResultValidationFailure || reason != "connection refused" {
		t.Errorf("Classify(%v) = %q, %q", err, rt, reason)
	}
}

// TestClassifyErrors covers the mapping for errors that a loopback
// handshake does not easily produce, in the forms wrappers use.
func TestClassifyErrors(t *testing.T) {
	cert := &x509.Certificate{Raw: []byte{1}}
	wrap := func(err error) error { return fmt.Errorf("session: %w", err) }
	tests := []struct {
		err    error
		result ResultType
		reason string
	}{
		{nil, "", ""},
		{ErrSTARTTLSNotSupported, ResultSTARTTLSNotSupported, ""},
		{x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired, Detail: "current time x is after y"}, ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED"},
		{&x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}, ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED"},
		{wrap(&x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}), ResultCertificateNotTrusted, "X509_V_ERR_INVALID_CA"},
		{wrap(x509.CertificateInvalidError{Reason: x509.TooManyIntermediates}), ResultCertificateNotTrusted, "X509_V_ERR_PATH_LENGTH_EXCEEDED"},
		{wrap(x509.CertificateInvalidError{Reason: x509.CANotAuthorizedForThisName}), ResultCertificateNotTrusted, "X509_V_ERR_PERMITTED_VIOLATION"},
		{wrap(x509.CertificateInvalidError{Reason: x509.NameMismatch}), ResultCertificateNotTrusted, "X509_V_ERR_SUBJECT_ISSUER_MISMATCH"},
		{wrap(x509.CertificateInvalidError{Reason: x509.NoValidChains}), ResultCertificateNotTrusted, "X509_V_ERR_CERT_UNTRUSTED"},
		{wrap(x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}), ResultValidationFailure, "X509_V_ERR_INVALID_PURPOSE"},
		{wrap(&x509.HostnameError{Certificate: cert, Host: "mx.example"}), ResultCertificateHostMismatch, "X509_V_ERR_HOSTNAME_MISMATCH"},
		{wrap(x509.UnknownAuthorityError{}), ResultCertificateNotTrusted, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"},
		{wrap(x509.UnhandledCriticalExtension{}), ResultValidationFailure, "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION"},
		{wrap(&tls.CertificateVerificationError{Err: errors.New("policy says no")}), ResultValidationFailure, "tls: failed to verify certificate: policy says no"},
		{wrap(tls.AlertError(40)), ResultValidationFailure, "TLS alert: handshake failure"},
		{wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ResultValidationFailure, "not a TLS record: first record does not look like a TLS handshake"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), ResultValidationFailure, "connection reset"},
		{wrap(context.DeadlineExceeded), ResultValidationFailure, "timeout"},
		{wrap(io.ErrUnexpectedEOF), ResultValidationFailure, "connection closed"},
		{wrap(&net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken")}), ResultValidationFailure, "network error: write"},
		{errors.New("something else"), ResultValidationFailure, "something else"},
		{errors.New(strings.Repeat("é", 150)), ResultValidationFailure, strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		rt, reason := Classify(tt.err)
		if rt != tt.result || reason != tt.reason {
			t.Errorf("Classify(%v) = %q, %q; want %q, %q", tt.err, rt, reason, tt.result, tt.reason)
		}
	}
}
