package mtasts

// A DNS server on loopback that serves a zone of miekg/dns records of any
// type (TXT, MX, CNAME, ...), for tests that need more than the TXT
// answers of testDNS. The zone is given as resource records, so the
// records built by RecordTXT and friends can be served as they are.
//
//	srv := startZoneDNS(t, map[string]int{"_mta-sts.broken.example.": dns.RcodeServerFailure},
//		mustRR(t, "example.com. 300 IN MX 10 mx1.example.com."), txtRR)
//	resolver := srv.resolver() // a *net.Resolver that asks only srv

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zoneServer answers from rrs. Names with an entry in rcodes get that
// response code; other names without records get NXDOMAIN; names with
// records but none of the type asked get an empty answer (NODATA). A
// CNAME at the name is answered with the records of its target, as a
// recursive resolver does.
type zoneServer struct {
	rrs    []dns.RR
	rcodes map[string]int
}

// startZoneDNS serves rrs over UDP and TCP on 127.0.0.1 until the test
// ends. It returns a testDNS whose resolver method gives a *net.Resolver
// that queries only this server.
func startZoneDNS(t testing.TB, rcodes map[string]int, rrs ...dns.RR) *testDNS {
	t.Helper()
	z := &zoneServer{rrs: rrs, rcodes: rcodes}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: z},
		{Listener: ln, Handler: z},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return &testDNS{udpAddr: pc.LocalAddr().String(), tcpAddr: ln.Addr().String()}
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

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if rcode, ok := z.rcodes[name]; ok {
		m.Rcode = rcode
		_ = w.WriteMsg(m)
		return
	}
	exists := false
	for range 8 { // follow at most 8 CNAMEs
		var cname *dns.CNAME
		for _, rr := range z.rrs {
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
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}
