package policycache_test

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
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// An MTA delivers to example.com, which publishes an enforce policy
// allowing mx1.example.com; its MX records also name mx.attacker.example.
// The MTA looks the policy up, skips the host the policy does not allow,
// runs STARTTLS with the session's TLS config on a raw net.Conn and
// tls.Client, records the session for TLS-RPT and delivers.
//
// Everything runs on 127.0.0.1: a resolver answering the _mta-sts TXT
// record, an HTTPS policy host and an SMTP server, with certificates from
// a CA made here (a real MTA leaves Resolver, HTTPClient and the
// VerifyOptions zero).
func Example() {
	lo := startLoopback()
	defer lo.close()

	cache, err := policycache.New(policycache.Config{
		Resolver:   txtRecords{"_mta-sts.example.com.": {"v=STSv1; id=20260501;"}},
		HTTPClient: lo.policyClient,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	store := new(tlsrpt.MemoryStore)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) // the Collector's clock: a real MTA leaves Now nil
	collector := &tlsrpt.Collector{OrganizationName: "Example Mail", ContactInfo: "mailto:tlsrpt@example.net",
		Store: store, Now: func() time.Time { return day.Add(10 * time.Hour) }}

	ctx := context.Background()
	res, err := cache.Lookup(ctx, "example.com")
	if err != nil {
		log.Fatal(err) // only an invalid domain, a cancelled context or a closed cache
	}
	fmt.Println("policy:", res.Policy.Mode, res.Policy.MX)

	d := policycache.NewDelivery(res, collector, mtasts.VerifyOptions{Roots: lo.roots})
	for _, mx := range []string{"mx.attacker.example", "mx1.example.com"} { // MX order
		s := d.Session(mx)
		if !s.Try() {
			fmt.Println(mx + ": not allowed by the policy, skipped")
			continue
		}
		sent, err := deliver(ctx, &s, lo.mxAddr)
		if err != nil {
			fmt.Println(mx+":", err)
			continue
		}
		if sent {
			fmt.Println(mx + ": delivered over verified TLS")
			break
		}
		fmt.Println(mx + ": TLS failed, next MX")
	}

	collector.Flush(ctx)
	results, _ := store.Results(ctx, day) // what Flush stored for the day
	for _, r := range results {
		fmt.Println("TLS-RPT:", r.Policy.Type, r.Policy.Domain, "successes:", r.Summary.TotalSuccessfulSessionCount, "failures:", r.Summary.TotalFailureSessionCount)
	}
	// Output:
	// policy: enforce [mx1.example.com]
	// mx.attacker.example: not allowed by the policy, skipped
	// mx1.example.com: delivered over verified TLS
	// TLS-RPT: sts example.com successes: 1 failures: 0
}

// deliver runs one SMTP session on a raw connection: greeting, EHLO,
// STARTTLS with s.TLSConfig(), Record, and the message if Record says so.
func deliver(ctx context.Context, s *policycache.Session, addr string) (bool, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err // no session: nothing to record
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	text := bufio.NewReader(io.LimitReader(conn, 64<<10))
	greeting, err := reply(text)
	if err != nil {
		return false, err
	}
	s.HELO = strings.Fields(greeting + " -")[1] // receiving-mx-helo
	fmt.Fprint(conn, "EHLO mta.example.net\r\n")
	ehlo, err := reply(text)
	if err != nil {
		return false, err
	}
	var state tls.ConnectionState
	tlsErr := tlsrpt.ErrSTARTTLSNotSupported
	var session net.Conn = conn
	if strings.Contains(ehlo, "STARTTLS") {
		fmt.Fprint(conn, "STARTTLS\r\n")
		if _, err := reply(text); err != nil {
			return false, err
		}
		tc := tls.Client(conn, s.TLSConfig())
		tlsErr = tc.HandshakeContext(ctx)
		state, session = tc.ConnectionState(), tc
	}
	if !s.Record(conn, &state, tlsErr) {
		return false, nil // recorded; this MX must not, or cannot, take the message
	}
	text = bufio.NewReader(io.LimitReader(session, 64<<10))
	for _, cmd := range []string{"EHLO mta.example.net", "MAIL FROM:<alice@example.net>", "RCPT TO:<bob@example.com>", "DATA", "Subject: hi\r\n\r\nHello.\r\n.", "QUIT"} {
		fmt.Fprintf(session, "%s\r\n", cmd)
		if _, err := reply(text); err != nil {
			return false, err
		}
	}
	return true, nil
}

// reply reads an SMTP reply (all its lines) and fails unless it is 2xx or
// 3xx.
func reply(r *bufio.Reader) (string, error) {
	var all strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			if line[0] != '2' && line[0] != '3' {
				return "", fmt.Errorf("SMTP reply %q", strings.TrimSpace(line))
			}
			return all.String(), nil
		}
	}
}

// txtRecords is a Resolver with fixed TXT records (a real MTA uses
// policycache.DNSResolver, the default).
type txtRecords map[string][]string

func (t txtRecords) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := t[name]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// loopback is the example's Internet: a policy host for example.com and
// the SMTP server of mx1.example.com, on 127.0.0.1.
type loopback struct {
	roots        *x509.CertPool
	policyClient *http.Client
	mxAddr       string
	close        func()
}

func startLoopback() *loopback {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), DNSNames: []string{name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	l := &loopback{roots: x509.NewCertPool()}
	l.roots.AddCert(ca)

	policy := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 604800\r\n"
	host := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, policy)
	}))
	host.TLS = &tls.Config{Certificates: []tls.Certificate{issue("mta-sts.example.com")}}
	host.StartTLS()
	var dialer net.Dialer
	l.policyClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, host.Listener.Addr().String()) // mta-sts.example.com
		},
		TLSClientConfig: &tls.Config{RootCAs: l.roots},
	}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	l.mxAddr = ln.Addr().String()
	mxTLS := &tls.Config{Certificates: []tls.Certificate{issue("mx1.example.com")}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			serveSMTP(conn, mxTLS)
		}
	}()
	l.close = func() {
		ln.Close()
		<-done
		host.Close()
	}
	return l
}

// serveSMTP is a minimal MX: it offers STARTTLS and takes any message.
func serveSMTP(conn net.Conn, cfg *tls.Config) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	var c net.Conn = conn
	r := bufio.NewReader(io.LimitReader(c, 64<<10))
	fmt.Fprint(c, "220 mx1.example.com ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " "); verb {
		case "EHLO":
			fmt.Fprint(c, "250-mx1.example.com\r\n250 STARTTLS\r\n")
		case "STARTTLS":
			fmt.Fprint(c, "220 ready\r\n")
			c = tls.Server(conn, cfg)
			r = bufio.NewReader(io.LimitReader(c, 64<<10))
		case "DATA":
			fmt.Fprint(c, "354 go ahead\r\n")
			for line != ".\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					return
				}
			}
			fmt.Fprint(c, "250 queued\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}
