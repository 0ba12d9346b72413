package mtasts

import (
	"context"
	"crypto/x509"
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
// for a domain that is not a valid host name, or when ctx is canceled or
// its deadline passes before the check is complete (the partial result is
// then dropped). To bound single steps and still get a result, set
// CheckOptions.Timeout.
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
	err = ctx.Err()
	if d, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(d) {
		// A step that failed at the deadline may finish before the
		// context's own timer marks it done.
		err = context.DeadlineExceeded
	}
	if err != nil {
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
