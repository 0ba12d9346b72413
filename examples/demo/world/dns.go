package world

import (
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server (github.com/miekg/dns) on a random
// loopback port, UDP and TCP, answering from records the program changes
// while it runs. Names it has no records for are NXDOMAIN; a name with
// records of other types only is NOERROR without answers (NODATA). Both
// carry an SOA record for negative caching (RFC 2308).
type DNS struct {
	// Addr is the "127.0.0.1:port" address of the server.
	Addr string

	udp, tcp *dns.Server

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case absolute name
}

// ListenDNS starts a DNS server on 127.0.0.1 at a random port free for
// both UDP and TCP.
func ListenDNS() (*DNS, error) {
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for try := 0; ; try++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			return nil, err
		}
	}
	return serveDNS(pc, ln), nil
}

// ListenDNSAt starts a DNS server on the loopback address addr, UDP and
// TCP, such as "127.0.0.1:53" inside a private network namespace.
func ListenDNSAt(addr string) (*DNS, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String()) // the same port, even for port 0
	if err != nil {
		pc.Close()
		return nil, err
	}
	return serveDNS(pc, ln), nil
}

// serveDNS serves the zone on pc and ln.
func serveDNS(pc net.PacketConn, ln net.Listener) *DNS {
	s := &DNS{Addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}}
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	return s
}

// Close stops the server.
func (s *DNS) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// SetTXT replaces the TXT records at name with one record per text; no
// text removes them. Texts longer than 255 bytes are split into several
// character-strings, as a zone file would.
func (s *DNS) SetTXT(name string, ttl uint32, texts ...string) {
	rrs := make([]dns.RR, 0, len(texts))
	for _, t := range texts {
		var parts []string
		for len(t) > 255 {
			parts, t = append(parts, t[:255]), t[255:]
		}
		rrs = append(rrs, &dns.TXT{Hdr: header(name, dns.TypeTXT, ttl), Txt: append(parts, t)})
	}
	s.set(name, dns.TypeTXT, rrs)
}

// SetMX replaces the MX records of domain with the hosts, given in order of
// preference (10, 20, ...).
func (s *DNS) SetMX(domain string, ttl uint32, hosts ...string) {
	rrs := make([]dns.RR, len(hosts))
	for i, h := range hosts {
		rrs[i] = &dns.MX{Hdr: header(domain, dns.TypeMX, ttl), Preference: uint16(10 * (i + 1)), Mx: dns.Fqdn(h)}
	}
	s.set(domain, dns.TypeMX, rrs)
}

// SetA replaces the A record of name.
func (s *DNS) SetA(name string, ttl uint32, ip netip.Addr) {
	s.set(name, dns.TypeA, []dns.RR{&dns.A{Hdr: header(name, dns.TypeA, ttl), A: ip.AsSlice()}})
}

func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(strings.ToLower(name)), Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// set replaces the records of type rrtype at name by rrs.
func (s *DNS) set(name string, rrtype uint16, rrs []dns.RR) {
	name = dns.Fqdn(strings.ToLower(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := append([]dns.RR(nil), rrs...)
	for _, rr := range s.records[name] {
		if rr.Header().Rrtype != rrtype {
			kept = append(kept, rr)
		}
	}
	if len(kept) == 0 {
		delete(s.records, name)
		return
	}
	s.records[name] = kept
}

// serve answers one query from the records.
func (s *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	rrs, found := s.records[name]
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	s.mu.Unlock()
	if !found {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		// RFC 2308 §5: the negative TTL is the smaller of the SOA's TTL
		// and its MINIMUM field.
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: header(zoneOf(name), dns.TypeSOA, 60),
			Ns:  "ns." + zoneOf(name), Mbox: "hostmaster." + zoneOf(name),
			Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60,
		}}
	}
	w.WriteMsg(m)
}

// zoneOf returns the last two labels of the absolute name, the zone the
// server pretends to be authoritative for.
func zoneOf(name string) string {
	labels := dns.SplitDomainName(name)
	if len(labels) < 2 {
		return "."
	}
	return dns.Fqdn(strings.Join(labels[len(labels)-2:], "."))
}
