package mtasts

// Real servers on loopback for the tests of the package: a DNS server
// (miekg/dns) with a *net.Resolver that talks only to it, an HTTPS server
// with an *http.Client that reaches it under any host name, and an SMTP
// server offering STARTTLS.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// dnsAnswer is what the test DNS server answers for one name.
type dnsAnswer struct {
	// Rcode is the response code; zero is NOERROR.
	Rcode int
	// TXT holds one entry per TXT record, each the record's strings.
	TXT [][]string
	// CNAME, if set, is answered first and the target's TXT records follow
	// in the same answer, as a recursive resolver does.
	CNAME string
	// Silent makes the server drop the query: the client times out.
	Silent bool
}

// testDNS is an authoritative-looking DNS server on 127.0.0.1, UDP and TCP.
type testDNS struct {
	udpAddr, tcpAddr string
	zone             map[string]dnsAnswer

	mu         sync.Mutex
	queries    []string // every query name, lower case, absolute
	tcpQueries []string // the names queried over TCP
}

// startDNS serves zone, whose keys are absolute lower-case names
// ("_mta-sts.example.com."). Names not in zone get NXDOMAIN. The server
// stops when the test ends.
func startDNS(t testing.TB, zone map[string]dnsAnswer) *testDNS {
	t.Helper()
	s := &testDNS{zone: zone}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	s.udpAddr, s.tcpAddr = pc.LocalAddr().String(), ln.Addr().String()
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)},
		{Listener: ln, Handler: dns.HandlerFunc(s.serve)},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return s
}

func (s *testDNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	_, udp := w.LocalAddr().(*net.UDPAddr)
	s.mu.Lock()
	s.queries = append(s.queries, name)
	if !udp {
		s.tcpQueries = append(s.tcpQueries, name)
	}
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	ans, ok := s.zone[name]
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case ans.Silent:
		return
	case ans.Rcode != dns.RcodeSuccess:
		m.Rcode = ans.Rcode
	case q.Qtype == dns.TypeTXT:
		if ans.CNAME != "" {
			m.Answer = append(m.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300},
				Target: ans.CNAME,
			})
			name = ans.CNAME
			ans = s.zone[strings.ToLower(ans.CNAME)]
		}
		for _, strs := range ans.TXT {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
				Txt: strs,
			})
		}
	}
	if udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size) // sets TC when the answer does not fit: the client retries over TCP
	}
	_ = w.WriteMsg(m)
}

// resolver returns a pure-Go *net.Resolver whose every query goes to s.
func (s *testDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			if strings.HasPrefix(network, "tcp") {
				return d.DialContext(ctx, "tcp", s.tcpAddr)
			}
			return d.DialContext(ctx, "udp", s.udpAddr)
		},
	}
}

// queried returns the names queried so far, lower case, absolute.
func (s *testDNS) queried() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// queriedTCP returns the names queried over TCP so far.
func (s *testDNS) queriedTCP() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tcpQueries...)
}

// startHTTPS starts an HTTPS server on loopback that presents cert and
// serves h. It stops when the test ends.
func startHTTPS(t testing.TB, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are what many tests are about
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// clientTo returns an *http.Client that connects to addr whatever host a
// URL names (so https://mta-sts.example.com/ reaches the test server, and
// TLS still checks the certificate for mta-sts.example.com) and that trusts
// only roots.
func clientTo(t testing.TB, addr string, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// startSMTP starts a minimal SMTP server on loopback that offers STARTTLS
// with cert: it greets, answers EHLO, and after STARTTLS runs the TLS
// handshake and answers EHLO and QUIT. It returns the address. It stops
// when the test ends.
func startSMTP(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { serveSMTP(conn, cfg) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func serveSMTP(conn net.Conn, cfg *tls.Config) {
	defer func() { _ = conn.Close() }()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	say := func(s string) bool {
		_, err := w.WriteString(s + "\r\n")
		return err == nil && w.Flush() == nil
	}
	if !say("220 mx.test ESMTP") {
		return
	}
	secure := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && !secure:
			say("250-mx.test\r\n250 STARTTLS")
		case verb == "EHLO":
			say("250 mx.test")
		case verb == "STARTTLS" && !secure:
			if !say("220 ready to start TLS") {
				return
			}
			tc := tls.Server(conn, cfg)
			if tc.Handshake() != nil {
				return
			}
			conn, secure = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}
