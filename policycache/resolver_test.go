package policycache_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// The DNSResolver satisfies the resolver interface of package mtasts.
var _ mtasts.Resolver = (*policycache.DNSResolver)(nil)

// testResolver asks servers once each, with a timeout generous enough for
// a busy machine.
func testResolver(servers ...string) *policycache.DNSResolver {
	return &policycache.DNSResolver{Servers: servers, Timeout: 30 * time.Second, Attempts: 1} // answered queries: no margin on a busy machine
}

func TestDNSResolverAnswers(t *testing.T) {
	srv := newDNSServer(t)
	const name = "_mta-sts.example.com"
	tests := []struct {
		name    string
		answer  zoneAnswer
		want    []string
		wantTTL time.Duration
	}{
		{
			name:    "one record",
			answer:  zoneAnswer{TXT: [][]string{{"v=STSv1; id=20160831085700Z;"}}, TTL: 300},
			want:    []string{"v=STSv1; id=20160831085700Z;"},
			wantTTL: 300 * time.Second,
		},
		{
			name:    "strings of one record are joined without spaces (RFC 8461 §3.1)",
			answer:  zoneAnswer{TXT: [][]string{{"v=STSv1; id=2019", "0101"}}, TTL: 60},
			want:    []string{"v=STSv1; id=20190101"},
			wantTTL: 60 * time.Second,
		},
		{
			name:    "several records, all returned",
			answer:  zoneAnswer{TXT: [][]string{{"v=STSv1; id=a"}, {"v=spf1 -all"}}, TTL: 120},
			want:    []string{"v=STSv1; id=a", "v=spf1 -all"},
			wantTTL: 120 * time.Second,
		},
		{
			name:    "zero TTL",
			answer:  zoneAnswer{TXT: [][]string{{"v=STSv1; id=a"}}, TTL: 0},
			want:    []string{"v=STSv1; id=a"},
			wantTTL: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Set(name, tt.answer)
			got, ttl, err := testResolver(srv.Addr).LookupTXTTTL(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) || ttl != tt.wantTTL {
				t.Errorf("got %q TTL %v, want %q TTL %v", got, ttl, tt.want, tt.wantTTL)
			}
		})
	}
}

func TestDNSResolverFollowsCNAME(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("_mta-sts.provider.example", zoneAnswer{TXT: [][]string{{"v=STSv1; id=p1"}}, TTL: 900})

	t.Run("chain in the answer", func(t *testing.T) {
		srv.Set("_mta-sts.customer.example", zoneAnswer{CNAME: "_mta-sts.provider.example", ResolveCNAME: true, TTL: 300})
		got, ttl, err := testResolver(srv.Addr).LookupTXTTTL(context.Background(), "_mta-sts.customer.example")
		if err != nil {
			t.Fatal(err)
		}
		// The TTL is the smallest along the chain: the CNAME's 300 s.
		if !reflect.DeepEqual(got, []string{"v=STSv1; id=p1"}) || ttl != 300*time.Second {
			t.Errorf("got %q TTL %v", got, ttl)
		}
	})
	t.Run("target not resolved by the server is asked for", func(t *testing.T) {
		srv.Set("_mta-sts.other.example", zoneAnswer{CNAME: "_mta-sts.provider.example", TTL: 3600})
		before := srv.Queries("_mta-sts.provider.example")
		got, ttl, err := testResolver(srv.Addr).LookupTXTTTL(context.Background(), "_mta-sts.other.example")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, []string{"v=STSv1; id=p1"}) || ttl != 900*time.Second {
			t.Errorf("got %q TTL %v", got, ttl)
		}
		if n := srv.Queries("_mta-sts.provider.example") - before; n != 1 {
			t.Errorf("target queried %d times, want 1", n)
		}
	})
	t.Run("loop", func(t *testing.T) {
		srv.Set("a.loop.example", zoneAnswer{CNAME: "b.loop.example", TTL: 60})
		srv.Set("b.loop.example", zoneAnswer{CNAME: "a.loop.example", TTL: 60})
		_, _, err := testResolver(srv.Addr).LookupTXTTTL(context.Background(), "a.loop.example")
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound || de.IsTemporary {
			t.Fatalf("err = %#v, want a permanent DNS error", err)
		}
	})
}

// dnsErrorKind classifies an error the way an MTA does: through the
// standard fields of *net.DNSError.
func dnsErrorKind(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &de):
		return "not a *net.DNSError"
	case de.IsNotFound:
		return "not found"
	case de.IsTimeout:
		return "timeout"
	case de.IsTemporary:
		return "temporary"
	default:
		return "misbehaving"
	}
}

func TestDNSResolverErrors(t *testing.T) {
	srv := newDNSServer(t)
	const name = "_mta-sts.example.net"
	tests := []struct {
		name    string
		answer  *zoneAnswer // nil: NXDOMAIN
		want    string
		wantTTL time.Duration
	}{
		{"NXDOMAIN, negative TTL from the SOA", nil, "not found", 30 * time.Second},
		{"NODATA", &zoneAnswer{NegTTL: 45}, "not found", 45 * time.Second},
		{"NXDOMAIN set by the zone", &zoneAnswer{Rcode: dns.RcodeNameError, NegTTL: 10}, "not found", 10 * time.Second},
		{"SERVFAIL", &zoneAnswer{Rcode: dns.RcodeServerFailure}, "temporary", 0},
		{"REFUSED", &zoneAnswer{Rcode: dns.RcodeRefused}, "misbehaving", 0},
		{"no answer", &zoneAnswer{Drop: true}, "timeout", 0},
		{"reply to another question", &zoneAnswer{WrongQuestion: true, TXT: [][]string{{"v=STSv1; id=a"}}}, "misbehaving", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.answer == nil {
				srv.Remove(name)
			} else {
				srv.Set(name, *tt.answer)
			}
			r := testResolver(srv.Addr)
			if tt.answer != nil && tt.answer.Drop {
				r.Timeout = 100 * time.Millisecond
			}
			txt, ttl, err := r.LookupTXTTTL(context.Background(), name)
			if got := dnsErrorKind(err); got != tt.want || ttl != tt.wantTTL || txt != nil {
				t.Errorf("got %q, %v TTL %v (err %v), want %s TTL %v", txt, got, ttl, err, tt.want, tt.wantTTL)
			}
			var de *net.DNSError
			if errors.As(err, &de) && de.Name != name {
				t.Errorf("DNSError.Name = %q, want %q", de.Name, name)
			}
		})
	}
}

func TestDNSResolverTruncatedFallsBackToTCP(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("_mta-sts.big.example", zoneAnswer{TXT: [][]string{{"v=STSv1; id=big1"}}, TTL: 300, Truncate: true})
	got, err := testResolver(srv.Addr).LookupTXT(context.Background(), "_mta-sts.big.example")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"v=STSv1; id=big1"}) {
		t.Errorf("got %q", got)
	}
	if srv.Queries("_mta-sts.big.example") != 2 || srv.TCPQueries() != 1 {
		t.Errorf("queries: %d in all, %d over TCP; want 2 and 1", srv.Queries("_mta-sts.big.example"), srv.TCPQueries())
	}
}

func TestDNSResolverTriesNextServer(t *testing.T) {
	broken, good := newDNSServer(t), newDNSServer(t)
	const name = "_mta-sts.example.org"
	broken.Set(name, zoneAnswer{Rcode: dns.RcodeServerFailure})
	good.SetTXT(name, 300, "v=STSv1; id=x")
	r := testResolver(broken.Addr, good.Addr)
	got, err := r.LookupTXT(context.Background(), name)
	if err != nil || !reflect.DeepEqual(got, []string{"v=STSv1; id=x"}) {
		t.Fatalf("got %q, %v", got, err)
	}

	// Attempts rounds over all servers.
	good.Set(name, zoneAnswer{Rcode: dns.RcodeServerFailure})
	r.Attempts = 3
	if _, err := r.LookupTXT(context.Background(), name); dnsErrorKind(err) != "temporary" {
		t.Fatalf("err = %v, want temporary", err)
	}
	if broken.Queries(name) != 4 || good.Queries(name) != 4 {
		t.Errorf("queries: %d and %d, want 4 and 4", broken.Queries(name), good.Queries(name))
	}
}

func TestDNSResolverContext(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("slow.example", zoneAnswer{Drop: true})
	r := &policycache.DNSResolver{Servers: []string{srv.Addr}, Timeout: time.Minute}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.LookupTXT(ctx, "slow.example"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.LookupTXT(ctx, "slow.example")
	if !errors.Is(err, context.DeadlineExceeded) || dnsErrorKind(err) != "timeout" {
		t.Errorf("deadline: err = %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
}

func TestDNSResolverBadName(t *testing.T) {
	r := testResolver("127.0.0.1:1")
	for _, name := range []string{"", "a..b", string(make([]byte, 300))} {
		if _, err := r.LookupTXT(context.Background(), name); dnsErrorKind(err) != "misbehaving" {
			t.Errorf("LookupTXT(%q): err = %v, want a permanent *net.DNSError", name, err)
		}
	}
}
