package policycache_test

import (
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// zoneAnswer is what the test DNS server answers for one name.
type zoneAnswer struct {
	// TXT holds the TXT records, each as its character-strings.
	TXT [][]string
	// MX holds the MX records, answered to MX queries.
	MX []net.MX
	// CNAME, when set, is answered (with TXT records of the target when
	// ResolveCNAME is set and the target is in the zone).
	CNAME        string
	ResolveCNAME bool
	TTL          uint32
	// Rcode is sent as is (NOERROR by default). NXDOMAIN and NOERROR
	// replies without records carry an SOA record with NegTTL.
	Rcode  int
	NegTTL uint32
	// Drop makes the server never answer (the client times out).
	Drop bool
	// Truncate answers UDP queries with the TC bit and no records, so the
	// client must ask again over TCP.
	Truncate bool
	// WrongQuestion echoes a different question (a misbehaving server).
	WrongQuestion bool
}

// dnsServer is a real DNS server (github.com/miekg/dns) on 127.0.0.1,
// listening on UDP and TCP at the same random port, answering TXT and MX queries
// from a zone the test programs and counting what it is asked.
type dnsServer struct {
	Addr string

	mu      sync.Mutex
	zone    map[string]zoneAnswer
	queries map[string]int // by lower-case name without the root dot
	tcp     int
	changed chan struct{} // closed and replaced at every query
}

func newDNSServer(t tb) *dnsServer {
	t.Helper()
	s := &dnsServer{zone: map[string]zoneAnswer{}, queries: map[string]int{}, changed: make(chan struct{})}
	var pc net.PacketConn
	var l net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatal(err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// Set programs the answer for name.
func (s *dnsServer) Set(name string, a zoneAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[key(name)] = a
}

// SetTXT programs a NOERROR answer with one TXT record per string.
func (s *dnsServer) SetTXT(name string, ttl uint32, records ...string) {
	a := zoneAnswer{TTL: ttl}
	for _, r := range records {
		a.TXT = append(a.TXT, []string{r})
	}
	s.Set(name, a)
}

// Remove makes name NXDOMAIN.
func (s *dnsServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, key(name))
}

// Queries reports how many queries for name arrived (over UDP and TCP).
func (s *dnsServer) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key(name)]
}

// WaitQueries waits until n queries for name have arrived.
func (s *dnsServer) WaitQueries(name string, n int) {
	for {
		s.mu.Lock()
		if s.queries[key(name)] >= n {
			s.mu.Unlock()
			return
		}
		ch := s.changed
		s.mu.Unlock()
		<-ch
	}
}

// TCPQueries reports how many queries arrived over TCP.
func (s *dnsServer) TCPQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcp
}

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *dnsServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		return
	}
	q := r.Question[0]
	overTCP := w.LocalAddr().Network() == "tcp"
	s.mu.Lock()
	s.queries[key(q.Name)]++
	if overTCP {
		s.tcp++
	}
	close(s.changed)
	s.changed = make(chan struct{})
	a, ok := s.zone[key(q.Name)]
	var target zoneAnswer
	if ok && a.CNAME != "" && a.ResolveCNAME {
		target = s.zone[key(a.CNAME)]
	}
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	soa := &dns.SOA{
		Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns:  "ns.test.", Mbox: "hostmaster.test.", Serial: 1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: a.NegTTL,
	}
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
		soa.Minttl = 30
		m.Ns = append(m.Ns, soa)
	case a.Drop:
		return
	case a.Truncate && !overTCP:
		m.Truncated = true
	case a.WrongQuestion:
		m.Question[0].Name = "other." + q.Name
	case a.Rcode != dns.RcodeSuccess:
		m.Rcode = a.Rcode
		if a.Rcode == dns.RcodeNameError {
			m.Ns = append(m.Ns, soa)
		}
	default:
		name := q.Name
		if a.CNAME != "" {
			m.Answer = append(m.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: a.TTL},
				Target: dns.Fqdn(a.CNAME),
			})
			name, a = dns.Fqdn(a.CNAME), target
		}
		if q.Qtype == dns.TypeTXT {
			for _, txt := range a.TXT {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: a.TTL},
					Txt: txt,
				})
			}
		}
		if q.Qtype == dns.TypeMX {
			for _, mx := range a.MX {
				m.Answer = append(m.Answer, &dns.MX{
					Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: a.TTL},
					Preference: mx.Pref, Mx: dns.Fqdn(mx.Host),
				})
			}
		}
		if q.Qtype == dns.TypeTXT && len(a.TXT) == 0 || q.Qtype == dns.TypeMX && len(a.MX) == 0 ||
			q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeMX {
			m.Ns = append(m.Ns, soa)
		}
	}
	w.WriteMsg(m)
}
