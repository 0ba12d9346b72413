package mtasts

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of CheckOptions.
const (
	// DefaultCheckTimeout bounds each network step of Check: a DNS
	// lookup, the policy fetch, one MX host's STARTTLS probe.
	DefaultCheckTimeout = 30 * time.Second
	// DefaultCertExpiryWarning is how close to its expiry an MX host's
	// certificate has to be for Check to warn.
	DefaultCertExpiryWarning = 14 * 24 * time.Hour
	// DefaultMaxTesting is how long a domain may stay in mode testing
	// before Check warns, when CheckOptions.TestingSince is set.
	DefaultMaxTesting = 30 * 24 * time.Hour
)

// maxProbedMX is the number of MX hosts Check probes with STARTTLS at most
// (MX records are data of the inspected domain; a thousand of them must
// not mean a thousand connections). probeParallel is how many probes run
// at once.
const (
	maxProbedMX   = 10
	probeParallel = 4
)

// shortMaxAge is the max_age below which Check warns for enforce
// policies: RFC 8461 §3.2 expects max_age "in the range of weeks or
// greater".
const shortMaxAge = 7 * 24 * time.Hour

// CheckResolver is the DNS interface of Check: TXT lookups as in Resolver,
// and MX lookups. *net.Resolver satisfies it. "Not found" is reported as a
// *net.DNSError with IsNotFound set.
type CheckResolver interface {
	Resolver
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// CheckOptions configures Check. The zero value checks a domain on the
// Internet with the system's resolver, roots and clock.
type CheckOptions struct {
	// Resolver looks up the TXT and MX records. Nil means
	// net.DefaultResolver.
	Resolver CheckResolver

	// HTTPClient fetches the policy (see FetchRaw). Nil means a client
	// with http.DefaultTransport.
	HTTPClient *http.Client

	// SMTPPort is the port of the STARTTLS probes. Empty means "25".
	SMTPPort string
	// DialContext connects to the MX hosts. Nil means a net.Dialer, using
	// Resolver for the host's addresses when it is a *net.Resolver.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// HelloName is the name sent with EHLO. Empty means "localhost".
	HelloName string
	// SkipSTARTTLS turns the STARTTLS probes off, for example where
	// outgoing connections to port 25 are blocked.
	SkipSTARTTLS bool
	// RootCAs are the roots MX certificates are checked against (RFC 8461
	// §4.2). Nil means the system roots. The policy host's certificate is
	// checked by HTTPClient.
	RootCAs *x509.CertPool

	// Now returns the current time, for certificate validity and the
	// testing-mode duration. Nil means time.Now.
	Now func() time.Time
	// CertExpiryWarning: a valid MX certificate that expires within it
	// gets a warning. Zero means DefaultCertExpiryWarning; negative turns
	// the warning off.
	CertExpiryWarning time.Duration

	// LastPublished, if set, is the policy published together with the
	// current TXT id. When the policy served differs from it and the
	// TXT id is not PolicyID of the served policy, Check reports that
	// senders which cached the earlier policy will not notice the change
	// ("id-drift").
	LastPublished *Policy
	// TestingSince, if set, is when the domain switched to mode testing.
	// A policy still in mode testing after MaxTesting gets a warning.
	TestingSince time.Time
	// MaxTesting is how long mode testing may last; zero means
	// DefaultMaxTesting.
	MaxTesting time.Duration

	// CheckTLSRPT, if set, validates the TXT records found at
	// _smtp._tls.<domain> (RFC 8460 §3), typically with the tlsrpt
	// package, which mtasts does not import:
	//
	//	CheckTLSRPT: func(txts []string) error { _, err := tlsrpt.SelectRecord(txts); return err }
	//
	// Without it, Check only looks for exactly one record beginning with
	// "v=TLSRPTv1;".
	CheckTLSRPT func(txts []string) error

	// Timeout bounds each network step (see DefaultCheckTimeout, the
	// value used when it is zero). A deadline of the context passed to
	// Check bounds them all.
	Timeout time.Duration
}

// CheckResult is what Check found. Its JSON form (encoding/json) is meant
// for programs and for people: the policy is written as its text, severity
// as "error" or "warning".
type CheckResult struct {
	// Domain is the policy domain in A-labels.
	Domain string `json:"domain"`
	// CheckedAt is the time the check started, by CheckOptions.Now.
	CheckedAt time.Time `json:"checked_at"`

	// TXT holds the TXT records found at _mta-sts.<domain>, all of them.
	TXT []string `json:"txt"`
	// Record is the MTA-STS record selected from TXT by the rules of RFC
	// 8461 §3.1, or nil.
	Record *Record `json:"record,omitempty"`

	// PolicyURL is https://mta-sts.<domain>/.well-known/mta-sts.txt.
	PolicyURL string `json:"policy_url"`
	// PolicyText is the policy file as served, when the fetch succeeded.
	PolicyText string `json:"policy_text,omitempty"`
	// Policy is PolicyText parsed with DiagnosePolicy, or nil.
	Policy *Policy `json:"policy,omitempty"`
	// Diagnostics are DiagnosePolicy's findings about PolicyText. Each one
	// is also in Findings, with the code "policy-syntax".
	Diagnostics []Diagnostic `json:"-"`

	// MX holds the domain's MX hosts, by preference, each host once.
	MX []MXCheck `json:"mx"`

	// TLSRPT holds the TXT records found at _smtp._tls.<domain>.
	TLSRPT []string `json:"tlsrpt"`

	// Findings are the problems found, each with a stable code, a
	// description and a fix. A domain whose setup is complete and
	// consistent has none.
	Findings []Finding `json:"findings"`
}

// OK reports whether the check found no error. Warnings do not count.
func (r *CheckResult) OK() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}

// MXCheck is what Check found about one MX host.
type MXCheck struct {
	// Host is the MX host name in A-labels, lower case, without the
	// trailing dot.
	Host string `json:"host"`
	// Preference is the MX preference; lower is tried first.
	Preference uint16 `json:"preference"`
	// Covered reports whether an mx pattern of the policy matches Host
	// (RFC 8461 §4.1); Pattern is the first that does. Both are unset when
	// no policy was fetched.
	Covered bool   `json:"covered"`
	Pattern string `json:"pattern,omitempty"`

	// Probed reports whether Check connected to the host (see
	// CheckOptions.SkipSTARTTLS); Address is the address dialled.
	Probed  bool   `json:"probed"`
	Address string `json:"address,omitempty"`
	// STARTTLS reports whether the host offered STARTTLS after EHLO.
	STARTTLS bool `json:"starttls"`
	// TLSVersion is the negotiated TLS version, such as "TLS 1.3".
	TLSVersion string `json:"tls_version,omitempty"`
	// Certificate describes the certificate presented in the handshake.
	Certificate *CertificateInfo `json:"certificate,omitempty"`
	// Error says why the probe did not complete: connection, SMTP dialogue
	// or TLS handshake. Err is the error itself.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
}

// CertificateInfo describes an MX host's certificate and the result of
// VerifyMXCertificate on it.
type CertificateInfo struct {
	// Subject and Issuer are the distinguished names of the leaf
	// certificate.
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// DNSNames are the leaf's subject alternative names of type dNSName:
	// the only names RFC 8461 §4.2 matches against the MX host.
	DNSNames  []string  `json:"dns_names"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Valid reports whether the certificate passes RFC 8461 §4.2 for the
	// MX host (VerifyMXCertificate with CheckOptions.RootCAs and Now).
	// Otherwise Error says why and Err is the *CertificateError.
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
	// Chain holds the certificates as presented, leaf first.
	Chain []*x509.Certificate `json:"-"`
}

// A Finding is one problem Check found: how bad it is, a stable code for
// programs, and for people what is wrong and what to do about it.
type Finding struct {
	// Severity is SeverityError for a problem that makes MTA-STS fail
	// (senders fetch no policy, or refuse or fail delivery to an MX host)
	// and SeverityWarning for one that weakens it or will soon break it.
	Severity Severity `json:"severity"`
	// Code identifies the kind of finding: "txt-missing", "mx-not-covered",
	// "cert-expiring", ... (the constants are listed with Check).
	Code string `json:"code"`
	// Subject is the MX host, mx pattern or DNS name concerned, if any.
	Subject string `json:"subject,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Fix says what to do.
	Fix string `json:"fix"`
}

// String formats f as "severity code: message (fix: ...)".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s: %s (fix: %s)", f.Severity, f.Code, f.Message, f.Fix)
}

// findingJSON is the JSON form of Finding, with the severity as a word.
type findingJSON struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Subject  string `json:"subject,omitempty"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// MarshalJSON writes f with the severity as "error" or "warning".
func (f Finding) MarshalJSON() ([]byte, error) {
	return json.Marshal(findingJSON{f.Severity.String(), f.Code, f.Subject, f.Message, f.Fix})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Finding) UnmarshalJSON(data []byte) error {
	var j findingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var sev Severity
	switch j.Severity {
	case "error":
		sev = SeverityError
	case "warning":
		sev = SeverityWarning
	default:
		return fmt.Errorf("mtasts: unknown finding severity %q", j.Severity)
	}
	*f = Finding{Severity: sev, Code: j.Code, Subject: j.Subject, Message: j.Message, Fix: j.Fix}
	return nil
}

// Check inspects the live MTA-STS setup of the policy domain domain, as a
// sender would see it, and reports every problem with a fix. It looks up,
// concurrently:
//
//   - the TXT records at _mta-sts.<domain> (RFC 8461 §3.1);
//   - the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt, with
//     every rule of §3.3 (FetchRaw), parsed with DiagnosePolicy and also
//     strictly with ParsePolicy, as senders do;
//   - the domain's MX records, matched against the policy's mx patterns
//     (§4.1), and each MX host's STARTTLS: the EHLO reply, the TLS
//     handshake and the certificate, checked by §4.2 (VerifyMXCertificate)
//     and for its expiry date;
//   - the TLS-RPT TXT records at _smtp._tls.<domain> (RFC 8460 §3).
//
// The finding codes are stable. Errors:
//
//	txt-missing, txt-multiple, txt-invalid, txt-lookup-failed: the _mta-sts record
//	policy-http-status, policy-certificate, policy-media-type, policy-too-large,
//	policy-unreachable, policy-timeout: the policy fetch (see FetchFailure)
//	policy-syntax: a DiagnosePolicy finding (also a warning)
//	policy-not-strict: only a lenient parser accepts the policy
//	id-drift: the policy changed, the TXT id did not (needs LastPublished)
//	mx-missing, mx-lookup-failed: the MX records
//	mx-not-covered: an MX host no pattern matches (a warning in mode testing)
//	starttls-missing, starttls-failed: an MX host's STARTTLS
//	cert-expired, cert-untrusted, cert-name-mismatch, cert-invalid: its certificate
//
// Warnings:
//
//	mode-none, testing-too-long, max-age-short: the policy's values
//	pattern-unused: an mx pattern that matches no MX host
//	mx-null: the domain accepts no mail (RFC 7505)
//	mx-unreachable, mx-smtp-error, mx-not-probed: STARTTLS could not be checked
//	cert-expiring: a valid certificate expires within CertExpiryWarning
//	tlsrpt-missing, tlsrpt-multiple, tlsrpt-invalid, tlsrpt-lookup-failed: TLS-RPT
//
// Network failures are findings, not errors: Check returns an error only
// for a domain that is not a valid host name or when ctx ends first.
func Check(ctx context.Context, domain string, opts CheckOptions) (*CheckResult, error) {
	host, err := toASCIIHost(domain)
	if err != nil {
		return nil, fmt.Errorf("mtasts: invalid policy domain %q: %w", domain, err)
	}
	c := newChecker(host, opts)
	var wg sync.WaitGroup
	wg.Go(func() { c.lookupRecord(ctx) })
	wg.Go(func() { c.fetchPolicy(ctx) })
	wg.Go(func() { c.lookupMX(ctx) })
	wg.Go(func() { c.lookupTLSRPT(ctx) })
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mtasts: checking %s: %w", host, err)
	}
	c.judge()
	return c.res, nil
}

// checker holds one run of Check: the network phase fills res and the
// *Err fields, each from its own goroutine; judge then adds the findings.
type checker struct {
	opts     CheckOptions
	resolver CheckResolver
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
	now      time.Time
	res      *CheckResult

	recordErr, fetchErr, strictErr, mxErr, tlsrptErr error
	notProbed                                        []string
}

func newChecker(host string, opts CheckOptions) *checker {
	c := &checker{opts: opts, resolver: opts.Resolver, dial: opts.DialContext}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	if c.dial == nil {
		d := &net.Dialer{}
		if r, ok := c.resolver.(*net.Resolver); ok {
			d.Resolver = r
		}
		c.dial = d.DialContext
	}
	c.now = time.Now()
	if opts.Now != nil {
		c.now = opts.Now()
	}
	c.res = &CheckResult{Domain: host, CheckedAt: c.now, PolicyURL: policyURL(host)}
	return c
}

// step returns the context of one network step.
func (c *checker) step(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.opts.Timeout
	if t <= 0 {
		t = DefaultCheckTimeout
	}
	return context.WithTimeout(ctx, t)
}

// txtRecorder passes TXT lookups on to a Resolver and keeps the answer.
type txtRecorder struct {
	Resolver
	txts []string
}

func (r *txtRecorder) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := r.Resolver.LookupTXT(ctx, name)
	r.txts = txts
	return txts, err
}

func (c *checker) lookupRecord(ctx context.Context) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	rec := &txtRecorder{Resolver: c.resolver}
	c.res.Record, c.recordErr = LookupRecord(ctx, rec, c.res.Domain)
	c.res.TXT = rec.txts
}

func (c *checker) fetchPolicy(ctx context.Context) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	body, err := FetchRaw(ctx, c.opts.HTTPClient, c.res.Domain)
	if err != nil {
		c.fetchErr = err
		return
	}
	c.res.PolicyText = string(body)
	c.res.Policy, c.res.Diagnostics, _ = DiagnosePolicy(body)
	if c.res.Policy != nil {
		_, c.strictErr = ParsePolicy(body)
	}
}

func (c *checker) lookupTLSRPT(ctx context.Context) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	c.res.TLSRPT, c.tlsrptErr = c.resolver.LookupTXT(ctx, "_smtp._tls."+c.res.Domain+".")
}

func (c *checker) lookupMX(ctx context.Context) {
	lctx, cancel := c.step(ctx)
	mxs, err := c.resolver.LookupMX(lctx, c.res.Domain+".")
	cancel()
	c.mxErr = err
	checks := make([]MXCheck, 0, len(mxs))
	for _, mx := range mxs {
		host, _ := mxHostName(mx.Host)
		if host == "" {
			host = "." // null MX
		}
		checks = append(checks, MXCheck{Host: host, Preference: mx.Pref})
	}
	slices.SortFunc(checks, func(a, b MXCheck) int {
		if a.Preference != b.Preference {
			return int(a.Preference) - int(b.Preference)
		}
		return strings.Compare(a.Host, b.Host)
	})
	// The same host twice: keep the first (most preferred).
	seen := make(map[string]bool, len(checks))
	c.res.MX = slices.DeleteFunc(checks, func(m MXCheck) bool {
		dup := seen[m.Host]
		seen[m.Host] = true
		return dup
	})
	if c.opts.SkipSTARTTLS || isNullMX(c.res.MX) {
		return
	}
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i := range c.res.MX {
		if i == maxProbedMX {
			for _, m := range c.res.MX[i:] {
				c.notProbed = append(c.notProbed, m.Host)
			}
			break
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			c.probe(ctx, &c.res.MX[i])
		})
	}
	wg.Wait()
}

// isNullMX reports whether mx is the null MX of RFC 7505: a single record
// whose host is the root, ".".
func isNullMX(mx []MXCheck) bool {
	return len(mx) == 1 && mx[0].Host == "."
}

// judge turns what the network phase found into findings, in a fixed
// order: record, policy, id, MX coverage, MX hosts, TLS-RPT.
func (c *checker) judge() {
	c.judgeRecord()
	c.judgePolicy()
	c.judgeID()
	c.judgeMX()
	for i := range c.res.MX {
		c.judgeProbe(&c.res.MX[i])
	}
	if len(c.notProbed) > 0 {
		c.warn("mx-not-probed", strings.Join(c.notProbed, " "),
			fmt.Sprintf("%d MX hosts were not probed: Check connects to the first %d only", len(c.notProbed), maxProbedMX),
			"check these hosts' STARTTLS and certificates separately")
	}
	c.judgeTLSRPT()
}

func (c *checker) add(sev Severity, code, subject, msg, fix string) {
	c.res.Findings = append(c.res.Findings, Finding{Severity: sev, Code: code, Subject: subject, Message: msg, Fix: fix})
}

func (c *checker) fail(code, subject, msg, fix string) {
	c.add(SeverityError, code, subject, msg, fix)
}

func (c *checker) warn(code, subject, msg, fix string) {
	c.add(SeverityWarning, code, subject, msg, fix)
}

// recordName is _mta-sts.<domain>.
func (c *checker) recordName() string { return "_mta-sts." + c.res.Domain }

// suggestedRecord returns the zone-file line of the TXT record for the
// policy served, or a template when there is none.
func (c *checker) suggestedRecord() string {
	id := "<id: 1 to 32 letters and digits, new for each policy>"
	if c.res.Policy != nil {
		id = PolicyID(c.res.Policy)
		if rr, err := RecordTXT(c.res.Domain, &Record{ID: id}, time.Hour); err == nil {
			return zoneLine(rr.String())
		}
	}
	return fmt.Sprintf("%s. 3600 IN TXT \"v=STSv1; id=%s\"", c.recordName(), id)
}

// zoneLine makes a miekg/dns record string readable in one line of text.
func zoneLine(s string) string { return strings.ReplaceAll(s, "\t", " ") }

func (c *checker) judgeRecord() {
	name := c.recordName()
	switch err := c.recordErr; {
	case err == nil:
	case errors.Is(err, ErrNoRecord):
		msg := fmt.Sprintf("no MTA-STS TXT record at %s: senders do not look for the policy (RFC 8461 §3.1)", name)
		for _, t := range c.res.TXT {
			if near := strings.ToLower(strings.TrimLeft(t, " \t")); strings.HasPrefix(near, "v=stsv1") {
				msg += fmt.Sprintf("; %q is not one: it must begin with exactly \"v=STSv1;\" (case-sensitive, nothing before it)", t)
				break
			}
		}
		fix := "publish " + c.suggestedRecord()
		if c.res.Policy != nil {
			fix += " (the id is PolicyID of the policy served)"
		}
		c.fail("txt-missing", name, msg, fix)
	case errors.Is(err, ErrMultipleRecords):
		c.fail("txt-multiple", name,
			fmt.Sprintf("%s has more than one TXT record beginning with \"v=STSv1;\": senders then ignore them all (RFC 8461 §3.1)", name),
			"delete all but one: "+c.suggestedRecord())
	case errors.Is(err, ErrInvalidRecord):
		c.fail("txt-invalid", name,
			fmt.Sprintf("the MTA-STS TXT record at %s is invalid, so senders ignore it: %v", name, err),
			"replace it with "+c.suggestedRecord())
	default:
		c.fail("txt-lookup-failed", name,
			fmt.Sprintf("looking up %s failed: %v", name, err),
			"make the domain's name servers answer TXT queries for "+name)
	}
}

// fetchFinding returns the finding code of a failed fetch and a fix, with
// a %s for the domain.
func fetchFinding(reason FetchFailure) (code, fix string) {
	switch reason {
	case FetchTimeout:
		return "policy-timeout", "make the policy host at mta-sts.%s answer within seconds"
	case FetchWebPKI:
		return "policy-certificate", "install a certificate for mta-sts.%s from a public CA, with the full chain, and renew it before it expires"
	case FetchStatus:
		return "policy-http-status", "serve the policy at https://mta-sts.%s/.well-known/mta-sts.txt with status 200, without redirects"
	case FetchMediaType:
		return "policy-media-type", "serve the policy file of mta-sts.%s with Content-Type: text/plain"
	case FetchTooLarge:
		return "policy-too-large", "keep the policy of mta-sts.%s under 64 KiB: list mx patterns, not every host"
	}
	return "policy-unreachable", "make mta-sts.%s resolve to a web server that accepts HTTPS connections on port 443"
}

func (c *checker) judgePolicy() {
	if c.fetchErr != nil {
		var reason FetchFailure
		if fe := (*FetchError)(nil); errors.As(c.fetchErr, &fe) {
			reason = fe.Reason
		}
		code, fix := fetchFinding(reason)
		c.fail(code, c.res.PolicyURL,
			fmt.Sprintf("senders cannot fetch the policy: %v", c.fetchErr),
			fmt.Sprintf(fix, c.res.Domain))
		return
	}
	for _, d := range c.res.Diagnostics {
		fix := d.Fix
		if fix == "" {
			fix = fmt.Sprintf("correct line %d of the policy file", d.Line)
		}
		c.add(d.Severity, "policy-syntax", c.res.PolicyURL,
			fmt.Sprintf("policy line %d, column %d: %s", d.Line, d.Column, d.Message), fix)
	}
	p := c.res.Policy
	if p == nil {
		return
	}
	if c.strictErr != nil {
		c.fail("policy-not-strict", c.res.PolicyURL,
			fmt.Sprintf("senders that parse the policy by the RFC 8461 grammar reject it: %v", c.strictErr),
			"serve the policy in canonical form, as Policy.MarshalText writes it: CRLF line endings, no byte order mark, no blank lines, mx host names without a trailing dot")
	}
	switch p.Mode {
	case ModeNone:
		c.warn("mode-none", c.res.PolicyURL,
			"the policy's mode is none: senders apply no MTA-STS protection (RFC 8461 §5)",
			"if MTA-STS is being removed (§8.3), delete the TXT record and the policy host once the last policy served before has expired (max_age); otherwise switch to mode testing or enforce and publish a new id")
	case ModeTesting:
		maxTesting := c.opts.MaxTesting
		if maxTesting <= 0 {
			maxTesting = DefaultMaxTesting
		}
		if since := c.opts.TestingSince; !since.IsZero() && c.now.Sub(since) > maxTesting {
			c.warn("testing-too-long", c.res.PolicyURL,
				fmt.Sprintf("the policy has been in mode testing since %s (%d days, more than %d): testing mode reports failures but protects no mail (RFC 8461 §5)",
					since.UTC().Format(time.DateOnly), int(c.now.Sub(since)/(24*time.Hour)), int(maxTesting/(24*time.Hour))),
				"once the TLS-RPT reports show no failures, switch to mode: enforce, then publish a new id")
		}
	}
	if p.Mode == ModeEnforce && p.MaxAge < shortMaxAge {
		c.warn("max-age-short", c.res.PolicyURL,
			fmt.Sprintf("max_age is %d seconds: senders refetch often and an attacker who blocks the fetch soon strips the protection; RFC 8461 §3.2 expects weeks or more", int64(p.MaxAge/time.Second)),
			"set max_age: 1209600 (two weeks) or more, up to 31557600")
	}
}

func (c *checker) judgeID() {
	last, served := c.opts.LastPublished, c.res.Policy
	if last == nil || served == nil || last.String() == served.String() {
		return
	}
	id := PolicyID(served)
	if c.res.Record != nil && c.res.Record.ID == id {
		return // the id follows the content
	}
	txtID := "no TXT id"
	if c.res.Record != nil {
		txtID = "the TXT id " + c.res.Record.ID
	}
	c.fail("id-drift", c.recordName(),
		fmt.Sprintf("the policy served differs from the last published one (%s), but %s is not the served policy's content id %s: senders that cached the earlier policy keep applying it until its max_age runs out (RFC 8461 §3.1, §5.1)",
			policyDiff(last, served), txtID, id),
		"if the served policy is intended, publish "+c.suggestedRecord()+"; otherwise serve the last published policy again")
}

// policyDiff describes how b differs from a.
func policyDiff(a, b *Policy) string {
	var d []string
	if a.Mode != b.Mode {
		d = append(d, fmt.Sprintf("mode %s → %s", a.Mode, b.Mode))
	}
	for _, m := range b.MX {
		if !slices.Contains(a.MX, m) {
			d = append(d, "mx "+m+" added")
		}
	}
	for _, m := range a.MX {
		if !slices.Contains(b.MX, m) {
			d = append(d, "mx "+m+" removed")
		}
	}
	if a.MaxAge != b.MaxAge {
		d = append(d, fmt.Sprintf("max_age %d → %d", int64(a.MaxAge/time.Second), int64(b.MaxAge/time.Second)))
	}
	if len(d) == 0 {
		d = append(d, "extensions or mx order changed")
	}
	return strings.Join(d, ", ")
}

func (c *checker) judgeMX() {
	domain := c.res.Domain
	if c.mxErr != nil {
		var dnsErr *net.DNSError
		if errors.As(c.mxErr, &dnsErr) && dnsErr.IsNotFound {
			c.fail("mx-missing", domain,
				fmt.Sprintf("%s has no MX records: senders fall back to its address records (RFC 5321 §5.1), which no mx pattern is meant for", domain),
				"publish MX records naming the mail servers, and list them in the policy's mx lines")
			return
		}
		if len(c.res.MX) == 0 {
			c.fail("mx-lookup-failed", domain, fmt.Sprintf("looking up the MX records of %s failed: %v", domain, c.mxErr),
				"make the domain's name servers answer MX queries")
			return
		}
		c.warn("mx-lookup-failed", domain, fmt.Sprintf("some MX records of %s are unusable: %v", domain, c.mxErr),
			"make each MX record name a valid host name")
	}
	if isNullMX(c.res.MX) {
		c.warn("mx-null", domain,
			fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail, so an MTA-STS policy has no effect", domain),
			"remove the MTA-STS records, or publish the MX records of the mail servers")
		return
	}
	p := c.res.Policy
	if p == nil {
		return
	}
	for i := range c.res.MX {
		mx := &c.res.MX[i]
		for _, m := range p.MX {
			if Pattern(m).Match(mx.Host) {
				mx.Covered, mx.Pattern = true, m
				break
			}
		}
	}
	if p.Mode == ModeNone {
		return
	}
	for _, mx := range c.res.MX {
		if mx.Covered {
			continue
		}
		sev, effect := SeverityError, "senders in enforce mode will not deliver to it"
		if p.Mode == ModeTesting {
			sev, effect = SeverityWarning, "in mode testing senders deliver anyway but report failures; in enforce mode they would not deliver to it"
		}
		msg := fmt.Sprintf("MX host %s (preference %d) matches no mx pattern of the policy (%s): %s (RFC 8461 §4.1)",
			mx.Host, mx.Preference, strings.Join(p.MX, ", "), effect)
		fix := fmt.Sprintf("add \"mx: %s\" to the policy, serve it, then publish a new TXT id (§8.1); or remove the MX record if the host is retired", mx.Host)
		if pat, deeper, ok := shallowWildcard(p.MX, mx.Host); ok {
			msg += fmt.Sprintf("; the wildcard %s matches exactly one label, so it covers hosts like x.%s but not %s", pat, pat[2:], mx.Host)
			fix = fmt.Sprintf("add \"mx: *.%s\" (or \"mx: %s\") to the policy, serve it, then publish a new TXT id (§8.1)", deeper, mx.Host)
		}
		c.add(sev, "mx-not-covered", mx.Host, msg, fix)
	}
	if len(c.res.MX) == 0 {
		return
	}
	for _, m := range p.MX {
		used := false
		for _, mx := range c.res.MX {
			if Pattern(m).Match(mx.Host) {
				used = true
				break
			}
		}
		if !used {
			c.warn("pattern-unused", m,
				fmt.Sprintf("the mx pattern %s matches none of the MX hosts (%s)", m, mxHosts(c.res.MX)),
				fmt.Sprintf("remove \"mx: %s\" unless it is for a host about to be added", m))
		}
	}
}

// shallowWildcard finds a wildcard pattern "*.S" of which host is a
// deeper descendant (at least two labels before S): the common mistake of
// expecting "*." to match several labels. It returns the pattern and the
// parent of host that a wildcard would have to name.
func shallowWildcard(patterns []string, host string) (pattern, parent string, ok bool) {
	for _, m := range patterns {
		suffix, isWild := strings.CutPrefix(m, "*")
		if !isWild || !strings.HasSuffix(host, suffix) {
			continue
		}
		if head := host[:len(host)-len(suffix)]; strings.Contains(head, ".") {
			_, parent, _ := strings.Cut(host, ".")
			return m, parent, true
		}
	}
	return "", "", false
}

func mxHosts(mx []MXCheck) string {
	hosts := make([]string, len(mx))
	for i, m := range mx {
		hosts[i] = m.Host
	}
	return strings.Join(hosts, ", ")
}

func (c *checker) judgeTLSRPT() {
	name := "_smtp._tls." + c.res.Domain
	example := fmt.Sprintf("v=TLSRPTv1; rua=mailto:tlsrpt@%s", c.res.Domain)
	publish := fmt.Sprintf("publish %s. 3600 IN TXT %q to receive reports", name, example)
	if rr, err := TLSRPTRecordTXT(c.res.Domain, example, time.Hour); err == nil {
		publish = "publish " + zoneLine(rr.String()) + " (with your own address) to receive reports"
	}
	var dnsErr *net.DNSError
	if c.tlsrptErr != nil && !(errors.As(c.tlsrptErr, &dnsErr) && dnsErr.IsNotFound) {
		c.warn("tlsrpt-lookup-failed", name, fmt.Sprintf("looking up %s failed: %v", name, c.tlsrptErr),
			"make the domain's name servers answer TXT queries for "+name)
		return
	}
	n := 0
	for _, t := range c.res.TLSRPT {
		if isTLSRPTRecord(t) {
			n++
		}
	}
	switch {
	case n == 0:
		c.warn("tlsrpt-missing", name,
			fmt.Sprintf("no TLS-RPT record at %s: senders cannot tell the domain about failed TLS or MTA-STS checks (RFC 8460)", name),
			publish)
	case c.opts.CheckTLSRPT != nil:
		if err := c.opts.CheckTLSRPT(c.res.TLSRPT); err != nil {
			c.warn("tlsrpt-invalid", name, fmt.Sprintf("the TLS-RPT record at %s is unusable: %v", name, err),
				"correct it: "+publish)
		}
	case n > 1:
		c.warn("tlsrpt-multiple", name,
			fmt.Sprintf("%s has %d TXT records beginning with \"v=TLSRPTv1;\": senders then ignore them all (RFC 8460 §3)", name, n),
			"keep one record and list every rua destination in it, separated by commas")
	}
}

// isTLSRPTRecord reports whether txt begins with "v=TLSRPTv1" *WSP ";",
// the prefix by which RFC 8460 §3 tells TLS-RPT records apart.
func isTLSRPTRecord(txt string) bool {
	rest, ok := strings.CutPrefix(txt, "v=TLSRPTv1")
	return ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";")
}
