package tlsrpt

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer is a DNS server on a random loopback port (UDP and TCP) that
// answers TXT queries from a zone: name -> TXT records (each a list of
// character-strings), or an rcode.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	seen []string // queried names
}

type txtAnswer struct {
	txt   [][]string
	rcode int
}

func startDNS(t testing.TB, zone map[string]txtAnswer) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative, m.RecursionAvailable = true, true
		q := req.Question[0]
		s.mu.Lock()
		s.seen = append(s.seen, q.Name)
		s.mu.Unlock()
		a, ok := zone[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case a.rcode != 0:
			m.Rcode = a.rcode
		case q.Qtype == dns.TypeTXT:
			for _, strs := range a.txt {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
					Txt: strs,
				})
			}
		}
		w.WriteMsg(m)
	})
	// The UDP port may be taken for TCP: try another.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatal(err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// resolver returns a *net.Resolver that asks only this server.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

func TestLookupRecord(t *testing.T) {
	zone := map[string]txtAnswer{
		"_smtp._tls.valid.example.":         {txt: [][]string{{"v=TLSRPTv1; rua=mailto:tlsrpt@valid.example"}}},
		"_smtp._tls.split.example.":         {txt: [][]string{{"v=TLSRPTv1; rua=mailto:tls", "rpt@split.example"}}},
		"_smtp._tls.with-spf.example.":      {txt: [][]string{{"v=spf1 -all"}, {"v=TLSRPTv1;rua=https://r.example/x"}}},
		"_smtp._tls.spf-only.example.":      {txt: [][]string{{"v=spf1 -all"}}},
		"_smtp._tls.nodata.example.":        {},
		"_smtp._tls.two.example.":           {txt: [][]string{{"v=TLSRPTv1; rua=mailto:a@two.example"}, {"v=TLSRPTv1; rua=mailto:b@two.example"}}},
		"_smtp._tls.malformed.example.":     {txt: [][]string{{"v=TLSRPTv1; rua="}}},
		"_smtp._tls.servfail.example.":      {rcode: dns.RcodeServerFailure},
		"_smtp._tls.xn--bcher-kva.example.": {txt: [][]string{{"v=TLSRPTv1; rua=mailto:r@xn--bcher-kva.example"}}},
	}
	srv := startDNS(t, zone)
	r := srv.resolver()
	tests := []struct {
		domain string
		rua    string
		err    error
	}{
		{"valid.example", "mailto:tlsrpt@valid.example", nil},
		{"VALID.Example.", "mailto:tlsrpt@valid.example", nil},
		{"bücher.example", "mailto:r@xn--bcher-kva.example", nil},
		{"split.example", "mailto:tlsrpt@split.example", nil},
		{"with-spf.example", "https://r.example/x", nil},
		{"absent.example", "", ErrNoRecord},
		{"nodata.example", "", ErrNoRecord},
		{"spf-only.example", "", ErrNoRecord},
		{"two.example", "", ErrMultipleRecords},
		{"malformed.example", "", ErrInvalidRecord},
		{"servfail.example", "", ErrDNSTemporary},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := LookupRecord(ctx, r, tt.domain)
		cancel()
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("LookupRecord(%q) error = %v, want %v", tt.domain, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("LookupRecord(%q): %v", tt.domain, err)
			continue
		}
		if got := strings.Join(uris(rec), ","); got != tt.rua {
			t.Errorf("LookupRecord(%q) RUA = %q, want %q", tt.domain, got, tt.rua)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, name := range srv.seen {
		if name != strings.ToLower(name) || !strings.HasPrefix(name, "_smtp._tls.") {
			t.Errorf("queried %q, want a lower-case _smtp._tls name", name)
		}
	}
	// Names that are not host names are refused before any query.
	for _, bad := range []string{"", "a..example", "-x.example", strings.Repeat("a", 64) + ".example"} {
		if _, err := LookupRecord(context.Background(), r, bad); err == nil ||
			errors.Is(err, ErrNoRecord) || errors.Is(err, ErrDNSTemporary) {
			t.Errorf("LookupRecord(%q) = %v, want an invalid-domain error", bad, err)
		}
	}
}
