package inspect

// A DNS server (miekg/dns) on 127.0.0.1, UDP and TCP, for the tests of the
// package, with a *net.Resolver that talks only to it. Its zone is made of
// miekg/dns records of any type (TXT, MX, CNAME, ...); dnsRR turns the
// records mtasts builds into them.
//
//	srv := startZoneDNS(t, map[string]int{"_mta-sts.broken.example.": dns.RcodeServerFailure},
//		mustRR(t, "example.com. 300 IN MX 10 mx1.example.com."))
//	resolver := srv.resolver() // a *net.Resolver that asks only srv

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/mtasts"
)

// testDNS answers from rrs, like an authoritative server that also follows
// CNAMEs as a recursive resolver does. Names with an entry in rcodes get
// that response code; names with records of some type but none of the
// type asked get an empty answer (NODATA); all other names get NXDOMAIN.
type testDNS struct {
	udpAddr, tcpAddr string

	rrs    []dns.RR
	rcodes map[string]int // lower-case absolute names
}

// startZoneDNS serves rrs, with the response codes of rcodes for the
// names in it, until the test ends.
func startZoneDNS(t testing.TB, rcodes map[string]int, rrs ...dns.RR) *testDNS {
	t.Helper()
	s := &testDNS{rrs: rrs, rcodes: rcodes}
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
		{PacketConn: pc, Handler: s},
		{Listener: ln, Handler: s},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return s
}

// mustRR parses one record in zone-file syntax.
func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("dns.NewRR(%q): %v", s, err)
	}
	return rr
}

// dnsRR turns a record built by mtasts into a miekg/dns record, through
// its zone-file line.
func dnsRR(t testing.TB, r mtasts.DNSRecord, err error) dns.RR {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return mustRR(t, r.String())
}

// ServeDNS implements dns.Handler.
func (s *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	if rcode, ok := s.rcodes[name]; ok {
		m.Rcode = rcode
		_ = w.WriteMsg(m)
		return
	}
	exists := false
	for range 8 { // follow at most 8 CNAMEs
		var cname *dns.CNAME
		for _, rr := range s.rrs {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			exists = true
			switch {
			case h.Rrtype == q.Qtype:
				m.Answer = append(m.Answer, rr)
			case h.Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if cname == nil || q.Qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, cname)
		name = strings.ToLower(cname.Target)
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
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
