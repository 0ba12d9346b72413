package inspect

import (
	"context"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// closedUDP returns a loopback UDP address where nothing listens: queries
// sent there are refused at once.
func closedUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// TestResolverDownIsNotTheDomain: "-dns 127.0.0.1:1 ... names the system
// resolver instead of the one asked" and "offline, every domain has no
// MX records": a resolver that does not answer is one finding naming it,
// and no finding about the domain.
func TestResolverDownIsNotTheDomain(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	down := closedUDP(t)
	for name, r := range map[string]Resolver{
		"policycache.DNSResolver": &policycache.DNSResolver{Servers: []string{down}, Attempts: 1},
		"net.Resolver": &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", down)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			opts := w.options()
			opts.Resolver = r
			res := w.check(t, "good.example", opts)
			if got := codes(res.Findings); !slices.Equal(got, []string{"dns-resolver-failed"}) {
				t.Fatalf("codes %q%s", got, findingsText(res.Findings))
			}
			f := res.Findings[0]
			if !strings.Contains(f.Message, "did not answer") || strings.Contains(f.Fix, "domain's name servers") {
				t.Errorf("finding: %v", f)
			}
			if _, ok := r.(*policycache.DNSResolver); ok && (f.Subject != down || !strings.Contains(f.Message, "the resolver "+down+" did not answer")) {
				t.Errorf("the finding does not name the resolver asked, %s: %v", down, f)
			}
		})
	}
}

// TestDomainMissing: a domain that does not exist is said to not exist,
// not to lack records, with a resolver that tells NXDOMAIN from NODATA.
func TestDomainMissing(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	opts := w.options()
	opts.Resolver = &policycache.DNSResolver{Servers: []string{w.dns.udpAddr}}
	res := w.check(t, "nosuch.example", opts)
	if got := codes(res.Findings); !slices.Equal(got, []string{"domain-missing"}) {
		t.Fatalf("codes %q%s", got, findingsText(res.Findings))
	}
	if !strings.Contains(res.Findings[0].Message, "nosuch.example does not exist: the resolver "+w.dns.udpAddr+" answered NXDOMAIN") {
		t.Errorf("finding: %v", res.Findings[0])
	}
	// A domain without MX records (NODATA) exists.
	res = w.check(t, "nomx.example", opts)
	if got := codes(res.Findings); !slices.Equal(got, []string{"mx-missing"}) {
		t.Errorf("nomx.example: codes %q%s", got, findingsText(res.Findings))
	}
	// With a *net.Resolver, which says "no such host" for both, the
	// claim is not made.
	res = w.check(t, "nosuch.example", w.options())
	if slices.Contains(codes(res.Findings), "domain-missing") {
		t.Errorf("net.Resolver: domain-missing claimed%s", findingsText(res.Findings))
	}
}

// TestServfailNamesResolver: a SERVFAIL is the domain's name servers
// failing; the message names the resolver asked.
func TestServfailNamesResolver(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	opts := w.options()
	opts.Resolver = &policycache.DNSResolver{Servers: []string{w.dns.udpAddr}}
	res := w.check(t, "servfail.example", opts)
	if got := codes(res.Findings); !slices.Equal(got, []string{"txt-lookup-failed"}) {
		t.Fatalf("codes %q%s", got, findingsText(res.Findings))
	}
	if f := res.Findings[0]; !strings.Contains(f.Message, "the resolver "+w.dns.udpAddr+" could not get an answer for _mta-sts.servfail.example from the domain's name servers") {
		t.Errorf("finding: %v", f)
	}
}

// TestDelegation: the CNAMEs of a delegated setup (RFC 8461 §8.2) are
// reported.
func TestDelegation(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	res := w.check(t, "delegated.example", w.options())
	if res.TXTDelegatedTo != "_mta-sts.provider.example" || res.PolicyHostDelegatedTo != "mta-sts.provider.example" {
		t.Errorf("delegation: %q, %q", res.TXTDelegatedTo, res.PolicyHostDelegatedTo)
	}
	res = w.check(t, "good.example", w.options())
	if res.TXTDelegatedTo != "" || res.PolicyHostDelegatedTo != "" {
		t.Errorf("good.example delegated: %q, %q", res.TXTDelegatedTo, res.PolicyHostDelegatedTo)
	}
}

// TestCertificateNamesEscaped: certificate names come from the peer; a
// finding quotes them escaped.
func TestCertificateNamesEscaped(t *testing.T) {
	evil := "mx.example.com\nOK: all good\x1b[2J"
	c := newChecker("example.com", Options{})
	c.res.MX = []MXHost{{
		Host: "mx.example.com", Probed: true, STARTTLS: true,
		Certificate: &Certificate{DNSNames: []string{evil}, Err: &mtasts.CertificateError{
			Host: "mx.example.com", Reason: mtasts.CertificateHostMismatch,
			Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{evil}}, Host: "mx.example.com"},
		}},
	}}
	c.judgeProbe(&c.res.MX[0])
	if len(c.res.Findings) != 1 {
		t.Fatalf("findings: %v", c.res.Findings)
	}
	if m := c.res.Findings[0].Message; strings.ContainsAny(m, "\n\x1b") || !strings.Contains(m, `names mx.example.com\nOK: all good\x1b[2J`) {
		t.Errorf("message %q", m)
	}
}
