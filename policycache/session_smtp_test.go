package policycache_test

// Loopback MX hosts for the session tests: real SMTP listeners with
// STARTTLS and certificates from a CA made for the test, each presenting
// one kind of certificate (or none), and the two SMTP clients an MTA may
// use with a Session: net/smtp and a raw net.Conn with tls.Client.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// tlsOutcome is what an MX host does about STARTTLS.
type tlsOutcome string

const (
	tlsValid     tlsOutcome = "valid"      // a CA certificate for the name asked for
	tlsExpired   tlsOutcome = "expired"    // the same, expired an hour ago
	tlsWrongName tlsOutcome = "wrong-name" // a CA certificate for another name
	tlsUntrusted tlsOutcome = "untrusted"  // self-signed for the name asked for
	tlsNone      tlsOutcome = "no-starttls"
	tlsRefused   tlsOutcome = "refused" // STARTTLS offered, handshake refused (TLS 1.0 only)
)

var tlsOutcomes = []tlsOutcome{tlsValid, tlsExpired, tlsWrongName, tlsUntrusted, tlsNone, tlsRefused}

// mxCA issues the MX certificates; now is the test clock's time.
type mxCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	now  time.Time
}

func newMXCA(t testing.TB, now time.Time) *mxCA {
	t.Helper()
	key := genKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "session test CA"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &mxCA{cert: cert, key: key, pool: pool, now: now}
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

var serials atomic.Int64

// issue returns a certificate for name valid from notBefore to notAfter,
// signed by the CA, or self-signed.
func (ca *mxCA) issue(name string, notBefore, notAfter time.Time, selfSigned bool) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serials.Add(1)), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca.cert, ca.key
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// serverConfig is the STARTTLS config of an MX host with outcome o.
func (ca *mxCA) serverConfig(o tlsOutcome) *tls.Config {
	var mu sync.Mutex
	certs := map[string]*tls.Certificate{}
	cfg := &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := hello.ServerName
		mu.Lock()
		defer mu.Unlock()
		if c := certs[name]; c != nil {
			return c, nil
		}
		from, to, self := ca.now.Add(-time.Hour), ca.now.Add(24*time.Hour), false
		switch o {
		case tlsExpired:
			from, to = ca.now.Add(-48*time.Hour), ca.now.Add(-time.Hour)
		case tlsWrongName:
			name = "mx.wrong-name.example"
		case tlsUntrusted:
			self = true
		}
		c, err := ca.issue(name, from, to, self)
		certs[hello.ServerName] = c
		return c, err
	}}
	if o == tlsRefused {
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
	}
	return cfg
}

// mxServer is a loopback SMTP server. It counts the messages it took.
type mxServer struct {
	Addr      string
	delivered atomic.Int64
}

// startMX starts an MX host with outcome o on 127.0.0.1; it stops when the
// test ends.
func startMX(t testing.TB, ca *mxCA, o tlsOutcome) *mxServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mxServer{Addr: ln.Addr().String()}
	cfg := ca.serverConfig(o)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				m.serve(c, cfg, o != tlsNone)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return m
}

// serve runs one SMTP session: greeting, EHLO, STARTTLS (when offered),
// MAIL, RCPT, DATA, QUIT. Lines are capped at 1000 bytes.
func (m *mxServer) serve(c net.Conn, cfg *tls.Config, offerTLS bool) {
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	var w net.Conn = c
	reply := func(s string) bool { _, err := fmt.Fprintf(w, "%s\r\n", s); return err == nil }
	if !reply("220 mx.test ESMTP") {
		return
	}
	secure := false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(string(line)))
		verb, _, _ := strings.Cut(cmd, " ")
		switch verb {
		case "EHLO", "HELO":
			if offerTLS && !secure {
				reply("250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME")
			} else {
				reply("250-mx.test\r\n250 8BITMIME")
			}
		case "STARTTLS":
			if !offerTLS || secure {
				reply("502 5.5.1 not offered")
				continue
			}
			reply("220 2.0.0 ready")
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			w, r, secure = tc, bufio.NewReader(tc), true
		case "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 2.0.0 ok")
		case "DATA":
			reply("354 go on")
			for {
				l, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
			}
			m.delivered.Add(1)
			reply("250 2.0.0 queued")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

// sessionClient runs one session with a Session: it connects to addr,
// says EHLO, runs STARTTLS with s.TLSConfig() when offered, calls Record
// and sends a message when Record says so. It reports whether the
// message was sent.
type sessionClient func(ctx context.Context, s *policycache.Session, addr string) (bool, error)

// netSMTPClient is a sessionClient on net/smtp.
func netSMTPClient(ctx context.Context, s *policycache.Session, addr string) (bool, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	c, err := smtp.NewClient(conn, s.Host())
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := c.Hello("mta.sender.example"); err != nil {
		return false, err
	}
	tlsErr := tlsrpt.ErrSTARTTLSNotSupported
	if ok, _ := c.Extension("STARTTLS"); ok {
		tlsErr = c.StartTLS(s.TLSConfig())
	}
	state, _ := c.TLSConnectionState()
	if !s.Record(conn, &state, tlsErr) {
		return false, nil
	}
	return true, sendMessage(c)
}

func sendMessage(c *smtp.Client) error {
	if err := c.Mail("alice@sender.example"); err != nil {
		return err
	}
	if err := c.Rcpt("bob@example.com"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte("Subject: hello\r\n\r\nHello.\r\n")); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// rawClient is a sessionClient on a net.Conn and tls.Client, reading the
// greeting's host name for receiving-mx-helo.
func rawClient(ctx context.Context, s *policycache.Session, addr string) (bool, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	read := func() (string, error) { return readReply(r) }
	greeting, err := read()
	if err != nil {
		return false, err
	}
	if f := strings.Fields(greeting); len(f) > 1 {
		s.HELO = f[1]
	}
	fmt.Fprintf(conn, "EHLO mta.sender.example\r\n")
	ehlo, err := read()
	if err != nil {
		return false, err
	}
	var state tls.ConnectionState
	tlsErr := tlsrpt.ErrSTARTTLSNotSupported
	var out net.Conn = conn
	if strings.Contains(ehlo, "STARTTLS") {
		fmt.Fprintf(conn, "STARTTLS\r\n")
		if _, err := read(); err != nil {
			return false, err
		}
		tc := tls.Client(conn, s.TLSConfig())
		tlsErr = tc.HandshakeContext(ctx)
		state = tc.ConnectionState()
		out = tc
	}
	if !s.Record(conn, &state, tlsErr) {
		return false, nil
	}
	return true, rawSend(out)
}

// rawSend sends EHLO and a message over conn, reading replies line by line.
func rawSend(conn net.Conn) error {
	r := bufio.NewReader(conn)
	for _, cmd := range []string{"EHLO mta.sender.example", "MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.com>", "DATA", "Subject: hello\r\n\r\nHello.\r\n.", "QUIT"} {
		if _, err := fmt.Fprintf(conn, "%s\r\n", cmd); err != nil {
			return err
		}
		reply, err := readReply(r)
		if err != nil {
			return err
		}
		if reply[0] != '2' && reply[0] != '3' {
			return fmt.Errorf("%s: %s", cmd, reply)
		}
	}
	return nil
}

// readReply reads one SMTP reply, all its lines.
func readReply(r *bufio.Reader) (string, error) {
	var all string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return all, err
		}
		all += line
		if len(line) < 4 || line[3] != '-' {
			return all, nil
		}
	}
}
