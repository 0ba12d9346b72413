package mtasts

// A DNS server (miekg/dns) on 127.0.0.1, UDP and TCP, for the tests of the
// package, with a *net.Resolver that talks only to it. Its zone is made of
// miekg/dns records of any type (TXT, MX, CNAME, ...), so the records
// built by RecordTXT and friends can be served as they are; startDNS
// builds that zone from dnsAnswer values, startZoneDNS takes records.
//
//	srv := startZoneDNS(t, map[string]int{"_mta-sts.broken.example.": dns.RcodeServerFailure},
//		mustRR(t, "example.com. 300 IN MX 10 mx1.example.com."), txtRR)
//	resolver := srv.resolver() // a *net.Resolver that asks only srv

import (
	"context"
	"net"
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
	// CNAME, if set, is answered first and the target's records follow
	// in the same answer, as a recursive resolver does.
	CNAME string
	// Silent makes the server drop the query: the client times out.
	Silent bool
}

// testDNS answers from rrs, like an authoritative server that also follows
// CNAMEs as a recursive resolver does. Names with an entry in rcodes get
// that response code; queries for names in silent are dropped; names with
// records of some type, or in exists, but none of the type asked get an
// empty answer (NODATA); all other names get NXDOMAIN.
type testDNS struct {
	udpAddr, tcpAddr string

	rrs    []dns.RR
	rcodes map[string]int  // lower-case absolute names
	silent map[string]bool // lower-case absolute names
	exists map[string]bool // lower-case absolute names without records

	mu         sync.Mutex
	queries    []string // every query name, lower case, absolute
	tcpQueries []string // the names queried over TCP
}

// startDNS serves zone, whose keys are absolute lower-case names
// ("_mta-sts.example.com."). Names not in zone get NXDOMAIN. The server
// stops when the test ends.
func startDNS(t testing.TB, zone map[string]dnsAnswer) *testDNS {
	t.Helper()
	s := &testDNS{rcodes: map[string]int{}, silent: map[string]bool{}, exists: map[string]bool{}}
	for name, ans := range zone {
		hdr := func(rtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: rtype, Class: dns.ClassINET, Ttl: 300}
		}
		switch {
		case ans.Silent:
			s.silent[name] = true
		case ans.Rcode != dns.RcodeSuccess:
			s.rcodes[name] = ans.Rcode
		case ans.CNAME != "":
			s.rrs = append(s.rrs, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: ans.CNAME})
		case len(ans.TXT) == 0:
			s.exists[name] = true
		}
		for _, strs := range ans.TXT {
			s.rrs = append(s.rrs, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: strs})
		}
	}
	s.start(t)
	return s
}

// startZoneDNS serves rrs, with the response codes of rcodes for the
// names in it, until the test ends.
func startZoneDNS(t testing.TB, rcodes map[string]int, rrs ...dns.RR) *testDNS {
	t.Helper()
	s := &testDNS{rrs: rrs, rcodes: rcodes}
	s.start(t)
	return s
}

// start serves s over UDP and TCP on 127.0.0.1 until the test ends.
func (s *testDNS) start(t testing.TB) {
	t.Helper()
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
	_, udp := w.LocalAddr().(*net.UDPAddr)
	s.mu.Lock()
	s.queries = append(s.queries, name)
	if !udp {
		s.tcpQueries = append(s.tcpQueries, name)
	}
	s.mu.Unlock()
	if s.silent[name] {
		return
	}

	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	if rcode, ok := s.rcodes[name]; ok {
		m.Rcode = rcode
		_ = w.WriteMsg(m)
		return
	}
	exists := s.exists[name]
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
