package tlsrpt

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// deliveryCA is a certificate authority made for one test, and a server
// certificate for 127.0.0.1 and localhost signed by it.
type deliveryCA struct {
	pool  *x509.CertPool
	caDER []byte
	leaf  tls.Certificate
}

func newDeliveryCA(t testing.TB) *deliveryCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsrpt test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &deliveryCA{pool: pool, caDER: caDER, leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (ca *deliveryCA) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
}

func (ca *deliveryCA) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.pool}
}

// httpsServer starts a real HTTPS server on 127.0.0.1 with a certificate of
// ca, and returns it with a client that trusts ca.
func (ca *deliveryCA) httpsServer(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ca.serverConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.clientConfig()}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return srv, client
}

// received is a message an smtpServer accepted.
type received struct {
	from string
	to   []string
	data []byte // as sent, CRLF line endings, dot-stuffing undone
	tls  bool
	ehlo string // the name of the last EHLO
}

// smtpServer is an SMTP server on 127.0.0.1 that speaks enough of RFC 5321
// to take messages: EHLO, HELO, STARTTLS, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
type smtpServer struct {
	ln   net.Listener
	tls  *tls.Config // offers STARTTLS when not nil
	rcpt func(addr string) string
	got  chan received
	wg   sync.WaitGroup
}

// newSMTPServer starts a server; rcpt, when not nil, gives the reply to
// each RCPT TO ("" for 250).
func newSMTPServer(t testing.TB, config *tls.Config, rcpt func(string) string) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: config, rcpt: rcpt, got: make(chan received, 16)}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func(lines ...string) { fmt.Fprint(c, strings.Join(lines, "\r\n")+"\r\n") }
	reply("220 localhost test ESMTP")
	var msg received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			msg.ehlo = arg
			if s.tls != nil && !msg.tls {
				reply("250-localhost", "250-8BITMIME", "250 STARTTLS")
			} else {
				reply("250-localhost", "250 8BITMIME")
			}
		case "HELO", "NOOP":
			reply("250 ok")
		case "STARTTLS":
			if s.tls == nil || msg.tls {
				reply("502 no")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r = tc, bufio.NewReader(tc)
			msg = received{tls: true, ehlo: msg.ehlo}
		case "RSET":
			msg = received{tls: msg.tls, ehlo: msg.ehlo}
			reply("250 ok")
		case "MAIL":
			msg.from = pathArg(arg, "FROM:")
			reply("250 ok")
		case "RCPT":
			to := pathArg(arg, "TO:")
			if s.rcpt != nil {
				if rep := s.rcpt(to); rep != "" {
					reply(rep)
					continue
				}
			}
			msg.to = append(msg.to, to)
			reply("250 ok")
		case "DATA":
			reply("354 end with .")
			var data []byte
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data = append(data, strings.TrimPrefix(l, ".")...)
			}
			msg.data = data
			s.got <- msg
			msg = received{tls: msg.tls, ehlo: msg.ehlo}
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// pathArg returns the address of "FROM:<a> PARAMS" or "TO:<a>".
func pathArg(arg, prefix string) string {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return ""
	}
	path, _, _ := strings.Cut(arg[len(prefix):], " ")
	return strings.Trim(path, "<>")
}
