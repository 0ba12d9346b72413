package policycache_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/policycache"
)

// One DNSResolver serves inspect.Domain and an MTA's MX lookups.
var _ inspect.Resolver = (*policycache.DNSResolver)(nil)

// mxHosts lists the records as "pref host", for messages.
func mxHosts(mxs []*net.MX) []string {
	var out []string
	for _, mx := range mxs {
		out = append(out, fmt.Sprint(mx.Pref, " ", mx.Host))
	}
	return out
}

func TestDNSResolverLookupMXSortsByPreference(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("example.com", zoneAnswer{TTL: 300, MX: []net.MX{
		{Host: "c.example.com", Pref: 30},
		{Host: "a.example.com", Pref: 10},
		{Host: "b1.example.com", Pref: 20},
		{Host: "b2.example.com", Pref: 20},
	}})
	r := testResolver(srv.Addr)
	seen := map[string]bool{}
	for range 20 {
		mxs, err := r.LookupMX(context.Background(), "example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(mxs) != 4 || *mxs[0] != (net.MX{Host: "a.example.com.", Pref: 10}) ||
			*mxs[3] != (net.MX{Host: "c.example.com.", Pref: 30}) || mxs[1].Pref != 20 || mxs[2].Pref != 20 {
			t.Fatalf("LookupMX = %q, want a (10), b1 and b2 (20) in either order, c (30)", mxHosts(mxs))
		}
		pair := []string{mxs[1].Host, mxs[2].Host}
		seen[pair[0]] = true
		slices.Sort(pair)
		if !reflect.DeepEqual(pair, []string{"b1.example.com.", "b2.example.com."}) {
			t.Fatalf("LookupMX = %q", mxHosts(mxs))
		}
	}
	// RFC 5321 §5.1: hosts of equal preference are tried in random order.
	// 20 lookups all in one order: a chance of 2^-19.
	if len(seen) != 2 {
		t.Errorf("equal-preference hosts always in the same order")
	}
}

func TestDNSResolverLookupMXNullMXAndCNAME(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("null.example", zoneAnswer{TTL: 60, MX: []net.MX{{Host: ".", Pref: 0}}}) // RFC 7505
	srv.Set("alias.example", zoneAnswer{TTL: 60, CNAME: "real.example"})
	srv.Set("real.example", zoneAnswer{TTL: 60, MX: []net.MX{{Host: "mx.real.example", Pref: 5}}})
	r := testResolver(srv.Addr)
	mxs, err := r.LookupMX(context.Background(), "null.example")
	if err != nil || len(mxs) != 1 || *mxs[0] != (net.MX{Host: ".", Pref: 0}) {
		t.Errorf("null MX: %q, %v", mxHosts(mxs), err)
	}
	mxs, err = r.LookupMX(context.Background(), "alias.example")
	if err != nil || len(mxs) != 1 || *mxs[0] != (net.MX{Host: "mx.real.example.", Pref: 5}) {
		t.Errorf("through a CNAME: %q, %v", mxHosts(mxs), err)
	}
}

func TestDNSResolverLookupMXErrors(t *testing.T) {
	srv := newDNSServer(t)
	const name = "example.net"
	tests := []struct {
		name   string
		answer *zoneAnswer // nil: NXDOMAIN
		want   string
	}{
		{"NXDOMAIN", nil, "not found"},
		{"NODATA: TXT records but no MX", &zoneAnswer{TXT: [][]string{{"v=spf1 -all"}}}, "not found"},
		{"SERVFAIL", &zoneAnswer{Rcode: dns.RcodeServerFailure}, "temporary"},
		{"REFUSED", &zoneAnswer{Rcode: dns.RcodeRefused}, "misbehaving"},
		{"no answer", &zoneAnswer{Drop: true}, "timeout"},
		{"reply to another question", &zoneAnswer{WrongQuestion: true, MX: []net.MX{{Host: "mx.example.net", Pref: 1}}}, "misbehaving"},
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
			mxs, err := r.LookupMX(context.Background(), name)
			if got := dnsErrorKind(err); got != tt.want || mxs != nil {
				t.Errorf("got %q, %v (err %v), want %s", mxHosts(mxs), got, err, tt.want)
			}
		})
	}
}

func TestDNSResolverLookupMXTruncatedFallsBackToTCP(t *testing.T) {
	srv := newDNSServer(t)
	srv.Set("big.example", zoneAnswer{TTL: 300, Truncate: true, MX: []net.MX{{Host: "mx.big.example", Pref: 10}}})
	mxs, err := testResolver(srv.Addr).LookupMX(context.Background(), "big.example")
	if err != nil || len(mxs) != 1 || *mxs[0] != (net.MX{Host: "mx.big.example.", Pref: 10}) {
		t.Fatalf("got %q, %v", mxHosts(mxs), err)
	}
	if srv.Queries("big.example") != 2 || srv.TCPQueries() != 1 {
		t.Errorf("queries: %d in all, %d over TCP; want 2 and 1", srv.Queries("big.example"), srv.TCPQueries())
	}
}
