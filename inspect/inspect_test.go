package inspect

import (
	"github.com/smtpsec/smtpsec/internal/loopback"

	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpsec/smtpsec/mtasts"
)

// autoID in site.sts stands for "v=STSv1; id=<PolicyID of the policy served>".
const autoID = "<auto>"

// site is the live setup of one domain in the test world.
type site struct {
	policy   string   // policy file served; "" → the default enforce policy for mx.<domain>; "-" → none (404)
	raw      bool     // serve policy byte for byte instead of through Handler
	sts      []string // TXT records at _mta-sts; nil → {autoID}
	stsRcode int      // non-zero: the _mta-sts query gets this rcode
	stsCNAME string   // _mta-sts.<domain> is a CNAME to _mta-sts.<stsCNAME>
	// hostCNAME: mta-sts.<domain> is a CNAME to mta-sts.<hostCNAME>
	// (the fetch reaches the policy host whatever DNS says).
	hostCNAME string
	mx        []string // "preference host"; nil → "10 mx.<domain>"
	noMX      bool
	tlsrpt    []string // nil → one valid record
	noTLSRPT  bool
	smtp      string // kind of SMTP server for every MX host: "" good, plain, wrong, untrusted, expiring, expired, closed
}

// checkWorld is the Internet as far as Domain sees it, on loopback: a DNS
// server, a policy host (Handler over HTTPS) and SMTP servers, all trusting
// one test CA.
type checkWorld struct {
	now    time.Time
	ca     *loopback.CA
	dns    *testDNS
	client *http.Client
	// smtp maps an MX host name to the address of its server.
	smtp map[string]string
}

func defaultPolicy(domain string) string {
	return fmt.Sprintf("version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 1209600\n", domain)
}

// newCheckWorld builds the world for sites.
func newCheckWorld(t *testing.T, sites map[string]site) *checkWorld {
	t.Helper()
	w := &checkWorld{now: time.Now(), ca: loopback.NewCA(t), smtp: map[string]string{}}
	var (
		rrs        []dns.RR
		rcodes     = map[string]int{}
		policies   = map[string]*mtasts.Policy{}
		raw        = map[string]string{}
		hostsNames []string
		mxByKind   = map[string][]string{}
	)
	add := func(r mtasts.DNSRecord, err error) {
		t.Helper()
		rrs = append(rrs, dnsRR(t, r, err))
	}
	for domain, s := range sites {
		hostsNames = append(hostsNames, "mta-sts."+domain)
		text := s.policy
		if text == "" {
			text = defaultPolicy(domain)
		}
		var p *mtasts.Policy
		if text != "-" {
			var err error
			if p, _, err = mtasts.DiagnosePolicy([]byte(text)); err != nil && !s.raw {
				t.Fatalf("%s: policy: %v", domain, err)
			}
			if s.raw {
				raw[domain] = text
			} else {
				policies[domain] = p
			}
		}
		sts := s.sts
		if sts == nil {
			sts = []string{autoID}
		}
		switch {
		case s.stsRcode != 0:
			rcodes["_mta-sts."+domain+"."] = s.stsRcode
		case s.stsCNAME != "":
			add(mtasts.RecordCNAME(domain, s.stsCNAME, time.Hour))
		}
		if s.hostCNAME != "" {
			rrs = append(rrs, mustRR(t, "mta-sts."+domain+". 300 IN CNAME mta-sts."+s.hostCNAME+"."))
		}
		for _, txt := range sts {
			if txt == autoID {
				add(mtasts.RecordTXT(domain, &mtasts.Record{ID: mtasts.PolicyID(p)}, time.Hour))
				continue
			}
			rrs = append(rrs, &dns.TXT{Hdr: dns.RR_Header{Name: "_mta-sts." + domain + ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{txt}})
		}
		mxs := s.mx
		if mxs == nil && !s.noMX {
			mxs = []string{"10 mx." + domain}
		}
		for _, m := range mxs {
			rr := mustRR(t, domain+". 300 IN MX "+dns.Fqdn(m))
			rrs = append(rrs, rr)
			host := strings.ToLower(strings.TrimSuffix(rr.(*dns.MX).Mx, "."))
			if host != "" && !slices.Contains(mxByKind[s.smtp], host) {
				mxByKind[s.smtp] = append(mxByKind[s.smtp], host)
			}
		}
		if s.noMX {
			rrs = append(rrs, mustRR(t, domain+". 300 IN A 192.0.2.1"))
		}
		tlsrpt := s.tlsrpt
		if tlsrpt == nil && !s.noTLSRPT {
			tlsrpt = []string{"v=TLSRPTv1; rua=mailto:tlsrpt@" + domain}
		}
		for _, txt := range tlsrpt {
			add(mtasts.DNSRecord{Name: "_smtp._tls." + domain + ".", Type: "TXT", TTL: time.Hour, Value: txt}, nil)
		}
	}
	w.dns = startZoneDNS(t, rcodes, rrs...)

	host := &mtasts.Handler{Policy: func(_ context.Context, domain string) (*mtasts.Policy, error) {
		return policies[domain], nil
	}}
	https := loopback.HTTPS(t, w.ca.Issue(t, loopback.CertSpec{DNSNames: hostsNames}), http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if text, ok := raw[strings.TrimPrefix(r.Host, "mta-sts.")]; ok {
			rw.Header().Set("Content-Type", "text/plain")
			_, _ = rw.Write([]byte(text))
			return
		}
		host.ServeHTTP(rw, r)
	}))
	w.client = loopback.Client(t, https.Listener.Addr().String(), w.ca.Pool)

	for kind, hosts := range mxByKind {
		var addr string
		switch kind {
		case "":
			addr = loopback.SMTP(t, w.ca.Issue(t, loopback.CertSpec{DNSNames: hosts, NotAfter: w.now.Add(90 * 24 * time.Hour)}))
		case "plain":
			addr = loopback.TCP(t, loopback.ServePlainSMTP)
		case "wrong":
			addr = loopback.SMTP(t, w.ca.Issue(t, loopback.CertSpec{DNSNames: []string{"other.example"}}))
		case "untrusted":
			addr = loopback.SMTP(t, loopback.NewCA(t).Issue(t, loopback.CertSpec{DNSNames: hosts}))
		case "expiring":
			addr = loopback.SMTP(t, w.ca.Issue(t, loopback.CertSpec{DNSNames: hosts, NotAfter: w.now.Add(3 * 24 * time.Hour)}))
		case "expired":
			addr = loopback.SMTP(t, w.ca.Issue(t, loopback.CertSpec{DNSNames: hosts, NotBefore: w.now.Add(-90 * 24 * time.Hour), NotAfter: w.now.Add(-24 * time.Hour)}))
		case "closed":
			addr = loopback.ClosedAddr(t)
		case "silent":
			addr = loopback.TCP(t, loopback.ServeSilent)
		case "flood":
			addr = loopback.TCP(t, loopback.ServeFlood)
		default:
			t.Fatalf("unknown SMTP server kind %q", kind)
		}
		for _, h := range hosts {
			w.smtp[h] = addr
		}
	}
	return w
}

// options returns Options that reach only the test world.
func (w *checkWorld) options() Options {
	return Options{
		Resolver:   w.dns.resolver(),
		HTTPClient: w.client,
		RootCAs:    w.ca.Pool,
		Now:        func() time.Time { return w.now },
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil || port != "25" {
				return nil, fmt.Errorf("test world: unexpected address %q", address)
			}
			addr, ok := w.smtp[host]
			if !ok {
				return nil, fmt.Errorf("test world: no SMTP server for %s", host)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		Timeout: 10 * time.Second,
	}
}

func (w *checkWorld) check(t *testing.T, domain string, opts Options) *Result {
	t.Helper()
	res, err := Domain(context.Background(), domain, opts)
	if err != nil {
		t.Fatalf("Domain(%s): %v", domain, err)
	}
	return res
}

func codes(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Code
	}
	return out
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n\t%s", f)
	}
	return b.String()
}

// find returns the first finding with code, or fails the test.
func find(t *testing.T, res *Result, code string) Finding {
	t.Helper()
	for _, f := range res.Findings {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no %s finding in %s", code, findingsText(res.Findings))
	return Finding{}
}

const (
	enforceTwoMX   = "version: STSv1\nmode: enforce\nmx: mx1.%s\nmax_age: 1209600\n"
	testingPolicy  = "version: STSv1\nmode: testing\nmx: mx.%s\nmax_age: 86400\n"
	driftPublished = "version: STSv1\nmode: enforce\nmx: mx.drift.example\nmax_age: 1209600\n"
	driftServed    = "version: STSv1\nmode: enforce\nmx: mx.drift.example\nmx: mx2.drift.example\nmax_age: 1209600\n"
)

// checkSites is one world for all scenarios of TestDomainFindings, one
// domain per scenario.
func checkSites() map[string]site {
	return map[string]site{
		"good.example":          {},
		"notxt.example":         {sts: []string{}},
		"nearmiss.example":      {sts: []string{"v=stsv1; id=abc"}},
		"twotxt.example":        {sts: []string{autoID, "v=STSv1; id=other"}},
		"badtxt.example":        {sts: []string{"v=STSv1; id=not-valid"}},
		"servfail.example":      {stsRcode: dns.RcodeServerFailure},
		"delegated.example":     {sts: []string{}, stsCNAME: "provider.example", hostCNAME: "provider.example"},
		"halfdelegated.example": {sts: []string{}, stsCNAME: "provider.example"},
		"hostdelegated.example": {hostCNAME: "provider.example"},
		"provider.example":      {},
		"nopolicy.example":      {policy: "-", sts: []string{"v=STSv1; id=abc"}},
		"bom.example":           {raw: true, policy: "\uFEFF" + defaultPolicy("bom.example")},
		"typo.example":          {raw: true, policy: "version: STSv1\nmode: enforce\nnmx: mx.typo.example\nmax_age: 1209600\n", sts: []string{"v=STSv1; id=abc"}},
		"uncovered.example":     {policy: fmt.Sprintf(enforceTwoMX, "uncovered.example"), mx: []string{"10 mx1.uncovered.example", "20 mx2.uncovered.example"}},
		"uncovered-testing.example": {
			policy: "version: STSv1\nmode: testing\nmx: mx1.uncovered-testing.example\nmax_age: 86400\n",
			mx:     []string{"10 mx1.uncovered-testing.example", "20 mx2.uncovered-testing.example"},
		},
		"unused.example":   {policy: "version: STSv1\nmode: enforce\nmx: mx.unused.example\nmx: old.unused.example\nmax_age: 1209600\n"},
		"overlap.example":  {policy: "version: STSv1\nmode: enforce\nmx: mx.overlap.example\nmx: *.overlap.example\nmax_age: 1209600\n"},
		"shallow.example":  {policy: "version: STSv1\nmode: enforce\nmx: *.mx.shallow.example\nmax_age: 1209600\n", mx: []string{"10 tenant.h-v1.mx.shallow.example"}},
		"wildcard.example": {policy: "version: STSv1\nmode: enforce\nmx: *.wildcard.example\nmax_age: 1209600\n", mx: []string{"10 MX1.Wildcard.Example", "20 mx2.wildcard.example", "30 mx1.wildcard.example"}},
		"modenone.example": {policy: "version: STSv1\nmode: none\nmax_age: 86400\n"},
		"shortage.example": {policy: "version: STSv1\nmode: enforce\nmx: mx.shortage.example\nmax_age: 86400\n"},
		"drift.example": {policy: driftServed, sts: []string{"v=STSv1; id=" + mtasts.PolicyID(mustParse(driftPublished))},
			mx: []string{"10 mx.drift.example", "20 mx2.drift.example"}},
		"driftok.example":   {policy: strings.ReplaceAll(driftServed, "drift.", "driftok."), mx: []string{"10 mx.driftok.example", "20 mx2.driftok.example"}},
		"testing.example":   {policy: fmt.Sprintf(testingPolicy, "testing.example")},
		"nomx.example":      {noMX: true},
		"nullmx.example":    {mx: []string{"0 ."}},
		"plain.example":     {smtp: "plain"},
		"wrongname.example": {smtp: "wrong"},
		"untrusted.example": {smtp: "untrusted"},
		"expiring.example":  {smtp: "expiring"},
		"expired.example":   {smtp: "expired"},
		"closed.example":    {smtp: "closed"},
		"nortls.example":    {noTLSRPT: true},
		"tworpt.example":    {tlsrpt: []string{"v=TLSRPTv1; rua=mailto:a@tworpt.example", "v=TLSRPTv1; rua=mailto:b@tworpt.example"}},
		"badrpt.example":    {tlsrpt: []string{"v=TLSRPTv1; rua=ftp://reports.badrpt.example"}},
		"spfonly.example":   {tlsrpt: []string{"v=spf1 -all"}},
		"norua.example":     {tlsrpt: []string{"v=TLSRPTv1;"}},
		"wsprpt.example":    {tlsrpt: []string{"v=spf1 -all", "v=TLSRPTv1 ; rua=https://reports.wsprpt.example/v1"}},
	}
}

// mustParse parses a policy known to be valid (test data).
func mustParse(text string) *mtasts.Policy {
	p, err := mtasts.ParsePolicy([]byte(text))
	if err != nil {
		panic(err)
	}
	return p
}

func TestDomainFindings(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	day := 24 * time.Hour
	tests := []struct {
		domain string
		opts   func(*Options)
		want   []string // finding codes, in order
		errors int      // how many of them are errors
	}{
		{domain: "good.example"},
		{domain: "GOOD.Example.", want: nil},
		{domain: "notxt.example", want: []string{"txt-missing"}, errors: 1},
		{domain: "nearmiss.example", want: []string{"txt-missing"}, errors: 1},
		{domain: "twotxt.example", want: []string{"txt-multiple"}, errors: 1},
		{domain: "badtxt.example", want: []string{"txt-invalid"}, errors: 1},
		{domain: "servfail.example", want: []string{"txt-lookup-failed"}, errors: 1},
		{domain: "delegated.example"},
		{domain: "halfdelegated.example", want: []string{"delegation-partial"}},
		{domain: "hostdelegated.example", want: []string{"delegation-partial"}},
		{domain: "nopolicy.example", want: []string{"policy-http-status"}, errors: 1},
		{domain: "bom.example", want: []string{"policy-syntax", "policy-not-strict"}, errors: 1},
		{domain: "typo.example", want: []string{"policy-syntax"}, errors: 1},
		{domain: "uncovered.example", want: []string{"mx-not-covered"}, errors: 1},
		{domain: "uncovered-testing.example", want: []string{"mx-not-covered"}, errors: 0},
		{domain: "unused.example", want: []string{"pattern-unused"}},
		{domain: "overlap.example"},
		{domain: "shallow.example", want: []string{"mx-not-covered", "pattern-unused"}, errors: 1},
		{domain: "wildcard.example"},
		{domain: "modenone.example", want: []string{"mode-none"}},
		{domain: "shortage.example", want: []string{"max-age-short"}},
		{domain: "drift.example", opts: func(o *Options) { o.LastPublished = mustParse(driftPublished) },
			want: []string{"id-drift"}, errors: 1},
		{domain: "drift.example", want: nil}, // without LastPublished nothing tells
		{domain: "driftok.example", opts: func(o *Options) {
			o.LastPublished = mustParse(strings.ReplaceAll(driftPublished, "drift.", "driftok."))
		}},
		{domain: "testing.example", opts: func(o *Options) { o.TestingSince = w.now.Add(-60 * day) },
			want: []string{"testing-too-long"}},
		{domain: "testing.example", opts: func(o *Options) { o.TestingSince = w.now.Add(-10 * day) }},
		{domain: "testing.example", opts: func(o *Options) { o.TestingSince, o.MaxTesting = w.now.Add(-10*day), 7*day },
			want: []string{"testing-too-long"}},
		{domain: "nomx.example", want: []string{"mx-missing"}, errors: 1},
		{domain: "nullmx.example", want: []string{"mx-null"}},
		{domain: "plain.example", want: []string{"starttls-missing"}, errors: 1},
		{domain: "plain.example", opts: func(o *Options) { o.SkipSTARTTLS = true }},
		{domain: "wrongname.example", want: []string{"cert-name-mismatch"}, errors: 1},
		{domain: "untrusted.example", want: []string{"cert-untrusted"}, errors: 1},
		{domain: "expiring.example", want: []string{"cert-expiring"}},
		{domain: "expiring.example", opts: func(o *Options) { o.CertExpiryWarning = 2 * day }},
		{domain: "expiring.example", opts: func(o *Options) { o.CertExpiryWarning = -1 }},
		{domain: "expired.example", want: []string{"cert-expired"}, errors: 1},
		{domain: "closed.example", want: []string{"mx-unreachable"}},
		{domain: "nortls.example", want: []string{"tlsrpt-missing"}},
		{domain: "spfonly.example", want: []string{"tlsrpt-missing"}},
		{domain: "tworpt.example", want: []string{"tlsrpt-multiple"}},
		{domain: "badrpt.example", want: []string{"tlsrpt-invalid"}}, // no usable rua
		{domain: "norua.example", want: []string{"tlsrpt-invalid"}},  // invalid by RFC 8460 §3
		{domain: "wsprpt.example"},
	}
	for _, tt := range tests {
		name := tt.domain
		if tt.opts != nil {
			name += "/options"
		}
		t.Run(name, func(t *testing.T) {
			opts := w.options()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			res := w.check(t, tt.domain, opts)
			if got := codes(res.Findings); !slices.Equal(got, tt.want) {
				t.Fatalf("finding codes = %q, want %q%s", got, tt.want, findingsText(res.Findings))
			}
			errs := 0
			for _, f := range res.Findings {
				if f.Severity == SeverityError {
					errs++
				}
				if f.Message == "" || f.Fix == "" {
					t.Errorf("finding without message or fix: %+v", f)
				}
			}
			if errs != tt.errors {
				t.Errorf("%d errors, want %d%s", errs, tt.errors, findingsText(res.Findings))
			}
			if res.OK() != (tt.errors == 0) {
				t.Errorf("OK() = %v with %d errors", res.OK(), errs)
			}
		})
	}
}

// TestResult checks every field of the result for a healthy domain.
func TestResult(t *testing.T) {
	w := newCheckWorld(t, map[string]site{"good.example": {mx: []string{"20 mx2.good.example", "10 mx1.good.example", "30 MX1.good.example"},
		policy: "version: STSv1\nmode: enforce\nmx: mx1.good.example\nmx: *.good.example\nmax_age: 1209600\n"}})
	res := w.check(t, "Good.Example.", w.options())
	p := mustParse("version: STSv1\nmode: enforce\nmx: mx1.good.example\nmx: *.good.example\nmax_age: 1209600\n")
	if res.Domain != "good.example" || !res.CheckedAt.Equal(w.now) {
		t.Errorf("Domain, CheckedAt = %q, %v", res.Domain, res.CheckedAt)
	}
	wantTXT := "v=STSv1; id=" + mtasts.PolicyID(p)
	if !slices.Equal(res.TXT, []string{wantTXT}) || res.Record == nil || res.Record.ID != mtasts.PolicyID(p) {
		t.Errorf("TXT, Record = %q, %+v; want [%q]", res.TXT, res.Record, wantTXT)
	}
	if res.PolicyURL != "https://mta-sts.good.example/.well-known/mta-sts.txt" {
		t.Errorf("PolicyURL = %q", res.PolicyURL)
	}
	if res.PolicyText != p.String() || res.Policy.String() != p.String() || len(res.Diagnostics) != 0 {
		t.Errorf("PolicyText, Policy, Diagnostics = %q, %v, %v", res.PolicyText, res.Policy, res.Diagnostics)
	}
	if !slices.Equal(res.TLSRPT, []string{"v=TLSRPTv1; rua=mailto:tlsrpt@good.example"}) {
		t.Errorf("TLSRPT = %q", res.TLSRPT)
	}
	if len(res.MX) != 2 {
		t.Fatalf("MX = %+v, want mx1 and mx2 once each", res.MX)
	}
	for i, want := range []struct {
		host    string
		pref    uint16
		pattern string
	}{{"mx1.good.example", 10, "mx1.good.example"}, {"mx2.good.example", 20, "*.good.example"}} {
		mx := res.MX[i]
		if mx.Host != want.host || mx.Preference != want.pref || !mx.Covered || mx.Pattern != want.pattern {
			t.Errorf("MX[%d] = %s %d covered=%v by %q; want %s %d by %q", i, mx.Host, mx.Preference, mx.Covered, mx.Pattern, want.host, want.pref, want.pattern)
		}
		if !mx.Probed || mx.Address != want.host+":25" || !mx.STARTTLS || mx.TLSVersion != "TLS 1.3" || mx.Err != nil || mx.Error != "" {
			t.Errorf("MX[%d] probe = %+v", i, mx)
		}
		c := mx.Certificate
		if c == nil {
			t.Fatalf("MX[%d]: no certificate", i)
		}
		if !c.Valid || c.Err != nil || !slices.Equal(c.DNSNames, []string{"mx2.good.example", "mx1.good.example"}) ||
			c.NotAfter.Before(w.now) || len(c.Chain) != 1 || !strings.Contains(c.Issuer, "smtpsec test root CA") {
			t.Errorf("MX[%d].Certificate = %+v", i, c)
		}
	}
	if len(res.Findings) != 0 || !res.OK() {
		t.Errorf("findings: %s", findingsText(res.Findings))
	}
}

// TestCheckFindingText checks that findings explain themselves: what the
// RFC says and the exact records to publish.
func TestDomainFindingText(t *testing.T) {
	w := newCheckWorld(t, checkSites())
	opts := w.options()

	res := w.check(t, "notxt.example", opts)
	f := find(t, res, "txt-missing")
	id := mtasts.PolicyID(mustParse(defaultPolicy("notxt.example")))
	if want := `publish _mta-sts.notxt.example. 3600 IN TXT "v=STSv1; id=` + id + `"`; !strings.HasPrefix(f.Fix, want) {
		t.Errorf("txt-missing fix = %q, want it to begin with %q", f.Fix, want)
	}
	if f.Subject != "_mta-sts.notxt.example" || f.Severity != SeverityError {
		t.Errorf("txt-missing = %+v", f)
	}

	f = find(t, w.check(t, "nearmiss.example", opts), "txt-missing")
	if !strings.Contains(f.Message, `"v=stsv1; id=abc" is not one`) || !strings.Contains(f.Message, "case-sensitive") {
		t.Errorf("near miss message = %q", f.Message)
	}

	f = find(t, w.check(t, "shallow.example", opts), "mx-not-covered")
	if f.Subject != "tenant.h-v1.mx.shallow.example" ||
		!strings.Contains(f.Message, "the wildcard *.mx.shallow.example matches exactly one label") ||
		!strings.Contains(f.Fix, `"mx: *.h-v1.mx.shallow.example"`) {
		t.Errorf("shallow wildcard finding = %+v", f)
	}

	f = find(t, w.check(t, "uncovered.example", opts), "mx-not-covered")
	if f.Subject != "mx2.uncovered.example" || !strings.Contains(f.Message, "preference 20") ||
		!strings.Contains(f.Fix, `add "mx: mx2.uncovered.example"`) {
		t.Errorf("mx-not-covered = %+v", f)
	}

	opts.LastPublished = mustParse(driftPublished)
	f = find(t, w.check(t, "drift.example", opts), "id-drift")
	servedID := mtasts.PolicyID(mustParse(driftServed))
	if !strings.Contains(f.Message, "mx mx2.drift.example added") || !strings.Contains(f.Message, mtasts.PolicyID(opts.LastPublished)) ||
		!strings.Contains(f.Fix, "id="+servedID) {
		t.Errorf("id-drift = %+v", f)
	}
	opts.LastPublished = nil

	f = find(t, w.check(t, "expiring.example", opts), "cert-expiring")
	if !strings.Contains(f.Message, "in 3 days") {
		t.Errorf("cert-expiring = %+v", f)
	}

	f = find(t, w.check(t, "wrongname.example", opts), "cert-name-mismatch")
	if !strings.Contains(f.Message, "names other.example") {
		t.Errorf("cert-name-mismatch = %+v", f)
	}

	f = find(t, w.check(t, "nortls.example", opts), "tlsrpt-missing")
	if !strings.Contains(f.Fix, `_smtp._tls.nortls.example. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@nortls.example"`) {
		t.Errorf("tlsrpt-missing fix = %q", f.Fix)
	}

	res = w.check(t, "typo.example", opts)
	f = find(t, res, "policy-syntax")
	if res.Policy != nil || !strings.HasPrefix(f.Message, "policy line 3, column 1:") || f.Fix != "rename nmx to mx" {
		t.Errorf("policy-syntax = %+v, policy %v", f, res.Policy)
	}

	f = find(t, w.check(t, "nopolicy.example", opts), "policy-http-status")
	if !strings.Contains(f.Message, "404") || f.Subject != "https://mta-sts.nopolicy.example/.well-known/mta-sts.txt" {
		t.Errorf("policy-http-status = %+v", f)
	}
}

// TestCheckMXProbeFailures covers MX hosts that stall, flood or vanish:
// the probe ends within its bounds and the finding says why.
func TestDomainMXProbeFailures(t *testing.T) {
	w := newCheckWorld(t, map[string]site{
		"silent.example": {smtp: "silent"},
		"flood.example":  {smtp: "flood"},
	})
	opts := w.options()

	// Timeout bounds every step, the DNS lookups too: on a busy machine a
	// short one may end a lookup first, which says nothing about the probe,
	// so it doubles until the MX host is reached.
	var res *Result
	for opts.Timeout = 300 * time.Millisecond; ; opts.Timeout *= 2 {
		res = w.check(t, "silent.example", opts)
		if len(res.MX) > 0 && res.MX[0].Probed || opts.Timeout > time.Minute {
			break
		}
	}
	f := find(t, res, "mx-smtp-error")
	var netErr net.Error
	if !errors.As(res.MX[0].Err, &netErr) || !netErr.Timeout() || !errors.Is(res.MX[0].Err, errProbeSMTP) {
		t.Errorf("silent server: Err = %v, finding %+v", res.MX[0].Err, f)
	}

	opts.Timeout = 10 * time.Second
	res = w.check(t, "flood.example", opts)
	f = find(t, res, "mx-smtp-error")
	if !strings.Contains(f.Message, fmt.Sprintf("more than %d bytes", maxProbeRead)) {
		t.Errorf("flooding server: %+v", f)
	}
}

// TestCheckProbeLimit: at most maxProbedMX hosts are probed.
func TestDomainProbeLimit(t *testing.T) {
	var mx []string
	for i := range maxProbedMX + 2 {
		mx = append(mx, fmt.Sprintf("%d mx%02d.many.example", i, i))
	}
	w := newCheckWorld(t, map[string]site{"many.example": {
		policy: "version: STSv1\nmode: enforce\nmx: *.many.example\nmax_age: 1209600\n", mx: mx, smtp: "plain"}})
	res := w.check(t, "many.example", w.options())
	want := slices.Repeat([]string{"starttls-missing"}, maxProbedMX)
	want = append(want, "mx-not-probed")
	if got := codes(res.Findings); !slices.Equal(got, want) {
		t.Fatalf("codes = %q, want %q", got, want)
	}
	if f := res.Findings[maxProbedMX]; f.Subject != "mx10.many.example mx11.many.example" {
		t.Errorf("mx-not-probed subject = %q", f.Subject)
	}
	for i, m := range res.MX {
		if m.Probed != (i < maxProbedMX) {
			t.Errorf("MX[%d] %s Probed = %v", i, m.Host, m.Probed)
		}
	}
}

func TestDomainContext(t *testing.T) {
	w := newCheckWorld(t, map[string]site{"silent.example": {smtp: "silent"}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The steps' own timeout is too long for the test to end without the
	// caller's deadline: Domain returning at all shows that it applies.
	opts := w.options()
	opts.Timeout = time.Hour
	res, err := Domain(ctx, "silent.example", opts)
	if !errors.Is(err, context.DeadlineExceeded) || res != nil {
		t.Errorf("Domain = %v, %v; want context.DeadlineExceeded", res, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := Domain(ctx, "silent.example", w.options()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestDomainInvalidDomain(t *testing.T) {
	for _, d := range []string{"", ".", "a..example", "exa mple.com", strings.Repeat("a", 64) + ".example"} {
		res, err := Domain(context.Background(), d, Options{SkipSTARTTLS: true})
		if err == nil || res != nil {
			t.Errorf("Domain(%q) = %v, %v; want an error", d, res, err)
		}
	}
}

// TestCheckJSON: the result's JSON is readable and reads back.
func TestDomainJSON(t *testing.T) {
	w := newCheckWorld(t, map[string]site{"wrongname.example": {smtp: "wrong", noTLSRPT: true}})
	res := w.check(t, "wrongname.example", w.options())
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	fs := raw["findings"].([]any)
	f0 := fs[0].(map[string]any)
	if f0["severity"] != "error" || f0["code"] != "cert-name-mismatch" || f0["subject"] != "mx.wrongname.example" {
		t.Errorf("findings[0] = %v", f0)
	}
	if f1 := fs[1].(map[string]any); f1["severity"] != "warning" || f1["code"] != "tlsrpt-missing" {
		t.Errorf("findings[1] = %v", f1)
	}
	if raw["policy"] != defaultPolicyCanonical("wrongname.example") {
		t.Errorf("policy = %q", raw["policy"])
	}
	mx := raw["mx"].([]any)[0].(map[string]any)
	cert := mx["certificate"].(map[string]any)
	if mx["host"] != "mx.wrongname.example" || mx["starttls"] != true || cert["valid"] != false ||
		!strings.Contains(cert["error"].(string), "host mismatch") {
		t.Errorf("mx[0] = %v", mx)
	}

	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !slices.Equal(back.Findings, res.Findings) || back.Policy.String() != res.Policy.String() ||
		back.MX[0].Certificate.Error != res.MX[0].Certificate.Error || back.Domain != res.Domain {
		t.Errorf("round trip:\n%+v\n%+v", back, res)
	}
	if err := json.Unmarshal([]byte(`{"severity":"fatal","code":"x"}`), &Finding{}); err == nil {
		t.Error("unknown severity accepted")
	}
}

func defaultPolicyCanonical(domain string) string {
	return strings.ReplaceAll(defaultPolicy(domain), "\n", "\r\n")
}

// TestCheckDefaultDialerUsesResolver: without DialContext, the MX host's
// address comes from the *net.Resolver given as Resolver.
func TestDomainDefaultDialerUsesResolver(t *testing.T) {
	ca := loopback.NewCA(t)
	addr := loopback.SMTP(t, ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx.local.example"}, NotAfter: time.Now().Add(30 * 24 * time.Hour)}))
	_, port, _ := net.SplitHostPort(addr)
	srv := startZoneDNS(t, nil,
		mustRR(t, "local.example. 300 IN MX 10 mx.local.example."),
		mustRR(t, "mx.local.example. 300 IN A 127.0.0.1"),
	)
	res, err := Domain(context.Background(), "local.example", Options{
		Resolver: srv.resolver(),
		SMTPPort: port,
		RootCAs:  ca.Pool,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no policy host in this test")
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mx := res.MX[0]
	if !mx.STARTTLS || mx.Certificate == nil || !mx.Certificate.Valid || mx.Address != "mx.local.example:"+port {
		t.Errorf("MX[0] = %+v (cert %+v)", mx, mx.Certificate)
	}
	if got, want := codes(res.Findings), []string{"txt-missing", "policy-unreachable", "tlsrpt-missing"}; !slices.Equal(got, want) {
		t.Errorf("codes = %q, want %q", got, want)
	}
}

func TestShallowWildcard(t *testing.T) {
	tests := []struct {
		patterns        []string
		host            string
		pattern, parent string
	}{
		{[]string{"*.mx.microsoft"}, "tenant.h-v1.mx.microsoft", "*.mx.microsoft", "h-v1.mx.microsoft"},
		{[]string{"mx.example.com", "*.example.com"}, "a.b.example.com", "*.example.com", "b.example.com"},
		{[]string{"*.example.com"}, "mail.example.com", "", ""},    // covered, not deeper
		{[]string{"*.example.com"}, "mail.example.net", "", ""},    // elsewhere
		{[]string{"example.com"}, "a.b.example.com", "", ""},       // not a wildcard
		{[]string{"*.example.com"}, "a.bexample.com", "", ""},      // suffix, not a parent
		{[]string{"*.example.com"}, "x.y.mailexample.com", "", ""}, // suffix, not a parent
	}
	for _, tt := range tests {
		pat, parent, ok := shallowWildcard(tt.patterns, tt.host)
		if pat != tt.pattern || parent != tt.parent || ok != (tt.pattern != "") {
			t.Errorf("shallowWildcard(%q, %q) = %q, %q, %v; want %q, %q", tt.patterns, tt.host, pat, parent, ok, tt.pattern, tt.parent)
		}
	}
}

// TestCheckTestdataShallowWildcard runs the real-world shallow wildcard
// policy of testdata through Domain with an MX two labels deeper.
func TestDomainTestdataShallowWildcard(t *testing.T) {
	text := string(readTestdata(t, "shallow-wildcard.txt"))
	p, _, err := mtasts.DiagnosePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var wild string
	for _, m := range p.MX {
		if strings.HasPrefix(m, "*.") {
			wild = m
		}
	}
	if wild == "" {
		t.Fatalf("no wildcard in %q", p.MX)
	}
	deep := "tenant.h-v1." + wild[2:]
	w := newCheckWorld(t, map[string]site{"shallow.example": {raw: true, policy: text, mx: []string{"10 " + deep}}})
	res := w.check(t, "shallow.example", w.options())
	f := find(t, res, "mx-not-covered")
	if f.Subject != deep || !strings.Contains(f.Message, "matches exactly one label") || !strings.Contains(f.Fix, "*.h-v1."+wild[2:]) {
		t.Errorf("finding = %+v", f)
	}
}

func TestFindingString(t *testing.T) {
	f := Finding{Severity: SeverityWarning, Code: "pattern-unused", Message: "m", Fix: "f"}
	if got, want := f.String(), "warning pattern-unused: m (fix: f)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestLimitedConn(t *testing.T) {
	client, server := net.Pipe()
	defer func() { _ = client.Close() }()
	go func() {
		_, _ = server.Write([]byte("0123456789"))
		_ = server.Close()
	}()
	lc := &limitedConn{Conn: client, left: 4}
	buf := make([]byte, 10)
	n, err := lc.Read(buf)
	if n != 4 || err != nil || string(buf[:n]) != "0123" {
		t.Fatalf("Read = %d, %v, %q", n, err, buf[:n])
	}
	if n, err := lc.Read(buf); n != 0 || err == nil {
		t.Errorf("Read past the limit = %d, %v", n, err)
	}
}

// The TLS handshake of the probe offers SNI with the MX host name.
func TestDomainSNI(t *testing.T) {
	ca := loopback.NewCA(t)
	sni := make(chan string, 1)
	cert := ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mx.sni.example"}})
	cfg := &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		sni <- hello.ServerName
		return &cert, nil
	}}
	addr := loopback.TCP(t, func(conn net.Conn) { loopback.ServeSMTP(conn, cfg) })
	srv := startZoneDNS(t, nil, mustRR(t, "sni.example. 300 IN MX 10 MX.SNI.example."))
	res, err := Domain(context.Background(), "sni.example", Options{
		Resolver: srv.resolver(),
		RootCAs:  ca.Pool,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no policy host in this test")
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-sni; got != "mx.sni.example" {
		t.Errorf("SNI = %q", got)
	}
	if c := res.MX[0].Certificate; c == nil || !c.Valid {
		t.Errorf("certificate = %+v", c)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
