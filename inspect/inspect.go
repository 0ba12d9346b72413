package inspect

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds each network step of Domain: a DNS lookup,
	// the policy fetch (RFC 8461 §3.3), one MX host's STARTTLS probe.
	DefaultTimeout = 30 * time.Second
	// DefaultCertExpiryWarning is how close to its expiry an MX host's
	// certificate has to be for Domain to warn ("cert-expiring").
	DefaultCertExpiryWarning = 14 * 24 * time.Hour
	// DefaultMaxTesting is how long a domain may stay in mode testing
	// (RFC 8461 §5) before Domain warns, when Options.TestingSince is set.
	DefaultMaxTesting = 30 * 24 * time.Hour
)

// maxProbedMX is the number of MX hosts Domain probes with STARTTLS at
// most (MX records are data of the inspected domain; a thousand of them
// must not mean a thousand connections). probeParallel is how many probes
// run at once.
const (
	maxProbedMX   = 10
	probeParallel = 4
)

// Resolver is the DNS interface of Domain: TXT lookups as in
// mtasts.Resolver (and tlsrpt.Resolver), and MX lookups. *net.Resolver
// satisfies it. "Not found" is reported as a *net.DNSError with
// IsNotFound set.
type Resolver interface {
	mtasts.Resolver
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// Options configures Domain. The zero value inspects a domain on the
// Internet with the system's resolver, roots and clock.
type Options struct {
	// Resolver looks up the TXT and MX records. Nil means
	// net.DefaultResolver.
	Resolver Resolver

	// HTTPClient fetches the policy (see mtasts.FetchRaw). Nil means a
	// client with http.DefaultTransport.
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
	// TXT id is not mtasts.PolicyID of the served policy, Domain reports
	// that senders which cached the earlier policy will not notice the
	// change ("id-drift", RFC 8461 §3.1 and §5.1).
	LastPublished *mtasts.Policy
	// TestingSince, if set, is when the domain switched to mode testing.
	// A policy still in mode testing after MaxTesting gets a warning.
	TestingSince time.Time
	// MaxTesting is how long mode testing may last; zero means
	// DefaultMaxTesting.
	MaxTesting time.Duration

	// Timeout bounds each network step (see DefaultTimeout, the value
	// used when it is zero). A deadline of the context passed to Domain
	// bounds them all.
	Timeout time.Duration
}

// Domain inspects the live MTA-STS (RFC 8461) and TLS-RPT (RFC 8460)
// setup of the policy domain domain, as a sender would see it, and
// reports every problem as a Finding with a fix. See the package
// documentation for what it looks up and the finding codes.
//
// Network failures are findings, not errors: Domain returns an error only
// for a domain that is not a valid host name (matching
// mtasts.ErrInvalidDomain), or when ctx is canceled or its deadline
// passes before the inspection is complete (the partial result is then
// dropped). To bound single steps and still get a result, set
// Options.Timeout.
func Domain(ctx context.Context, domain string, opts Options) (*Result, error) {
	host, err := mtasts.NormalizeDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("inspect: invalid policy domain: %w", err)
	}
	c := newChecker(host, opts)
	var wg sync.WaitGroup
	wg.Go(func() { c.lookupRecord(ctx) })
	wg.Go(func() { c.fetchPolicy(ctx) })
	wg.Go(func() { c.lookupMX(ctx) })
	wg.Go(func() { c.lookupTLSRPT(ctx) })
	wg.Go(func() { c.lookupDelegation(ctx) })
	wg.Wait()
	err = ctx.Err()
	if d, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(d) {
		// A step that failed at the deadline may finish before the
		// context's own timer marks it done.
		err = context.DeadlineExceeded
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", host, err)
	}
	c.judge()
	return c.res, nil
}

// checker holds one run of Domain: the network phase fills res and the
// *Err fields, each from its own goroutine; judge then adds the findings.
type checker struct {
	opts     Options
	resolver Resolver
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
	now      time.Time
	res      *Result

	recordErr, fetchErr, strictErr, mxErr error
	// tlsrptErr is the error of the _smtp._tls lookup; selectErr that of
	// tlsrpt.SelectRecord on its answer.
	tlsrptErr, selectErr error
	notProbed            []string
	// exactNX: the resolver tells NXDOMAIN from NODATA (it is not a
	// *net.Resolver, which says "no such host" for both).
	exactNX bool
}

func newChecker(host string, opts Options) *checker {
	c := &checker{opts: opts, resolver: opts.Resolver, dial: opts.DialContext}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	_, isNet := c.resolver.(*net.Resolver)
	c.exactNX = !isNet
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
	c.res = &Result{Domain: host, CheckedAt: c.now, PolicyURL: "https://mta-sts." + host + "/.well-known/mta-sts.txt"}
	return c
}

// step returns the context of one network step.
func (c *checker) step(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.opts.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

// txtRecorder passes TXT lookups on to a Resolver and keeps the answer.
type txtRecorder struct {
	mtasts.Resolver
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
	c.res.Record, c.recordErr = mtasts.LookupRecord(ctx, rec, c.res.Domain)
	c.res.TXT = rec.txts
}

func (c *checker) fetchPolicy(ctx context.Context) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	body, err := mtasts.FetchRaw(ctx, c.opts.HTTPClient, c.res.Domain)
	if err != nil {
		c.fetchErr = err
		return
	}
	c.res.PolicyText = string(body)
	c.res.Policy, c.res.Diagnostics, _ = mtasts.DiagnosePolicy(body)
	if c.res.Policy != nil {
		_, c.strictErr = mtasts.ParsePolicy(body)
	}
}

func (c *checker) lookupTLSRPT(ctx context.Context) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	c.res.TLSRPT, c.tlsrptErr = c.resolver.LookupTXT(ctx, "_smtp._tls."+c.res.Domain+".")
	var dnsErr *net.DNSError
	if c.tlsrptErr == nil || errors.As(c.tlsrptErr, &dnsErr) && dnsErr.IsNotFound {
		c.res.TLSRPTRecord, c.selectErr = tlsrpt.SelectRecord(c.res.TLSRPT)
	}
}

// cnameResolver is the optional interface of a Resolver that looks up
// CNAME records, as *net.Resolver does.
type cnameResolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// lookupDelegation looks for the CNAMEs of a delegated setup (RFC 8461
// §8.2) at _mta-sts.<domain> and mta-sts.<domain>, when the resolver
// can.
func (c *checker) lookupDelegation(ctx context.Context) {
	cr, ok := c.resolver.(cnameResolver)
	if !ok {
		return
	}
	ctx, cancel := c.step(ctx)
	defer cancel()
	target := func(name string) string {
		t, err := cr.LookupCNAME(ctx, name+".")
		t = strings.ToLower(strings.TrimSuffix(t, "."))
		if err != nil || t == "" || t == name {
			return ""
		}
		return t
	}
	c.res.TXTDelegatedTo = target(c.recordName())
	c.res.PolicyHostDelegatedTo = target("mta-sts." + c.res.Domain)
}

func (c *checker) lookupMX(ctx context.Context) {
	lctx, cancel := c.step(ctx)
	mxs, err := c.resolver.LookupMX(lctx, c.res.Domain+".")
	cancel()
	c.mxErr = err
	hosts := make([]MXHost, 0, len(mxs))
	for _, mx := range mxs {
		host := mxHostName(mx.Host)
		if host == "" {
			host = "." // null MX
		}
		hosts = append(hosts, MXHost{Host: host, Preference: mx.Pref})
	}
	slices.SortFunc(hosts, func(a, b MXHost) int {
		if a.Preference != b.Preference {
			return int(a.Preference) - int(b.Preference)
		}
		return strings.Compare(a.Host, b.Host)
	})
	// The same host twice: keep the first (most preferred).
	seen := make(map[string]bool, len(hosts))
	c.res.MX = slices.DeleteFunc(hosts, func(m MXHost) bool {
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

// mxHostName returns the MX host name host in A-labels, lower case,
// without a trailing dot; when it is not a valid host name, lower-cased
// and without the trailing dot as it is.
func mxHostName(host string) string {
	if name, err := mtasts.NormalizeDomain(host); err == nil {
		return name
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// isNullMX reports whether mx is the null MX of RFC 7505: a single record
// whose host is the root, ".".
func isNullMX(mx []MXHost) bool {
	return len(mx) == 1 && mx[0].Host == "."
}
