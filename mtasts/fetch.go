package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Limits Fetch and FetchRaw impose on the policy host, as RFC 8461 §3.3
// suggests ("a reasonable timeout and size limit are 1 minute and 64 KiB").
const (
	// DefaultFetchTimeout bounds a fetch, body included, when the caller's
	// context has no deadline. A deadline in the context replaces it.
	DefaultFetchTimeout = time.Minute
	// MaxPolicySize is the largest policy body accepted, in bytes.
	MaxPolicySize = 64 << 10
)

// FetchFailure names the rule of RFC 8461 §3.3 that a policy fetch broke.
// The constants say which TLS-RPT result type (RFC 8460 §4.3.2.1) a sender
// reports for each.
type FetchFailure int

// Reasons a fetch fails.
const (
	// FetchNetwork: the policy host could not be reached or the connection
	// failed: DNS, connect, TLS handshake (other than the certificate),
	// reading the body. Also a fetch canceled by the caller's context.
	// TLS-RPT: sts-policy-fetch-error.
	FetchNetwork FetchFailure = iota + 1
	// FetchTimeout: the fetch did not complete within the deadline of the
	// context or DefaultFetchTimeout. TLS-RPT: sts-policy-fetch-error.
	FetchTimeout
	// FetchWebPKI: the certificate of mta-sts.<domain> is not valid for
	// that name, does not chain to a trusted root or is expired.
	// TLS-RPT: sts-webpki-invalid.
	FetchWebPKI
	// FetchStatus: the HTTP status is not 200 OK. Redirects (3xx) are not
	// followed (§3.3). TLS-RPT: sts-policy-fetch-error.
	FetchStatus
	// FetchMediaType: the media type is not text/plain (§3.2).
	// TLS-RPT: sts-policy-fetch-error.
	FetchMediaType
	// FetchTooLarge: the body is larger than MaxPolicySize.
	// TLS-RPT: sts-policy-fetch-error.
	FetchTooLarge
	// FetchPolicyInvalid: the body is not a valid policy (§3.2); Err
	// matches ErrInvalidPolicy. TLS-RPT: sts-policy-invalid.
	FetchPolicyInvalid
)

// String returns a short description such as "HTTP status".
func (f FetchFailure) String() string {
	switch f {
	case FetchNetwork:
		return "network error"
	case FetchTimeout:
		return "timeout"
	case FetchWebPKI:
		return "certificate not valid"
	case FetchStatus:
		return "HTTP status"
	case FetchMediaType:
		return "media type"
	case FetchTooLarge:
		return "policy too large"
	case FetchPolicyInvalid:
		return "invalid policy"
	}
	return fmt.Sprintf("FetchFailure(%d)", int(f))
}

// FetchError reports why Fetch or FetchRaw returned no policy.
//
// A sender that found an MTA-STS TXT record and has no valid policy cached
// continues as if the domain had no policy (§3.3, fail-open), and reports
// the failure with TLS-RPT as the FetchFailure constants say.
type FetchError struct {
	// Domain is the policy domain in A-labels.
	Domain string
	// URL is the policy URL, https://mta-sts.<domain>/.well-known/mta-sts.txt.
	URL string
	// Reason is the rule the fetch broke.
	Reason FetchFailure
	// StatusCode is the HTTP status, when a response was received.
	StatusCode int
	// Err is the underlying error. For FetchWebPKI it matches the crypto/x509
	// error types with errors.As; for FetchPolicyInvalid it matches
	// ErrInvalidPolicy, and a *SyntaxError says where the policy is wrong.
	Err error
}

// Error formats the URL, the reason and the underlying error.
func (e *FetchError) Error() string {
	return fmt.Sprintf("mtasts: fetching %s: %s: %v", e.URL, e.Reason, e.Err)
}

// Unwrap returns Err.
func (e *FetchError) Unwrap() error { return e.Err }

// Fetch fetches and parses the MTA-STS policy of the policy domain domain
// from https://mta-sts.<domain>/.well-known/mta-sts.txt, applying every
// rule of RFC 8461 §3.3 (see FetchRaw), then parses it strictly with
// ParsePolicy. A sender that prefers to accept the harmless slips
// DiagnosePolicy tolerates calls FetchRaw and DiagnosePolicy instead.
//
// A nil client means a client with http.DefaultTransport. The caller's
// client is not modified. Errors are *FetchError values whose Reason says
// which rule failed; an invalid domain gives an error of another type.
func Fetch(ctx context.Context, client *http.Client, domain string) (*Policy, error) {
	body, err := fetchRaw(ctx, client, domain, DefaultFetchTimeout)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(body)
	if err != nil {
		host, _ := toASCIIHost(domain) // valid: fetchRaw succeeded
		return nil, &FetchError{Domain: host, URL: policyURL(host), Reason: FetchPolicyInvalid, StatusCode: http.StatusOK, Err: err}
	}
	return p, nil
}

// FetchRaw is Fetch without the parsing: it returns the policy body as
// served, for a caller that parses it another way (to show diagnostics to
// a person, say). It enforces RFC 8461 §3.3 and §3.2:
//
//   - HTTPS only, to mta-sts.<domain> in A-labels. The server certificate
//     must be valid for that name (DNS-ID, RFC 6125), chain to a trusted root
//     and be unexpired: the response must have come over a connection that
//     crypto/tls verified for that name, so a client whose transport skips
//     verification gets FetchWebPKI.
//   - Redirects are not followed: a 3xx is a FetchStatus error, as is any
//     status other than 200.
//   - The media type must be text/plain, in any letter case; its parameters,
//     charset included, are ignored (§3.2).
//   - At most MaxPolicySize bytes of body.
//   - DefaultFetchTimeout when ctx has no deadline.
//   - No HTTP caching (§3.3): Fetch keeps no cache and sends
//     "Cache-Control: no-cache" so that intermediaries do not answer from
//     theirs. A client whose transport caches responses must not be used.
//
// Retry pacing (§3.3: at most one attempt per five minutes per policy id
// after a failure) is the caller's business.
func FetchRaw(ctx context.Context, client *http.Client, domain string) ([]byte, error) {
	return fetchRaw(ctx, client, domain, DefaultFetchTimeout)
}

// fetchRaw is FetchRaw with the timeout used when ctx has no deadline.
func fetchRaw(ctx context.Context, client *http.Client, domain string, timeout time.Duration) ([]byte, error) {
	host, err := toASCIIHost(domain)
	if err != nil {
		return nil, fmt.Errorf("mtasts: invalid policy domain %s: %w", escape.Quote(domain), err)
	}
	policyHost := "mta-sts." + host
	u := policyURL(host)
	fail := func(reason FetchFailure, status int, err error) error {
		return &FetchError{Domain: host, URL: u, Reason: reason, StatusCode: status, Err: err}
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fail(FetchNetwork, 0, err)
	}
	req.Header.Set("Cache-Control", "no-cache")

	var c http.Client
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return nil, fail(transportFailure(ctx, err), 0, err)
	}
	defer resp.Body.Close()

	if err := verifiedFor(resp.TLS, policyHost); err != nil {
		return nil, fail(FetchWebPKI, 0, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("status %s, want 200 OK", escape.Quote(resp.Status))
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			msg += fmt.Sprintf("; redirect to %s not followed", escape.Quote(loc))
		}
		return nil, fail(FetchStatus, resp.StatusCode, errors.New(msg))
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); (err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter)) || mt != "text/plain" {
		return nil, fail(FetchMediaType, resp.StatusCode, fmt.Errorf("Content-Type %s, want text/plain", escape.Quote(ct)))
	}
	tooLarge := fmt.Errorf("body larger than %d bytes", MaxPolicySize)
	if resp.ContentLength > MaxPolicySize {
		return nil, fail(FetchTooLarge, resp.StatusCode, tooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err == nil && ctx.Err() != nil {
		// The deadline passed or the caller canceled while reading: the
		// body may be cut short even if the read ended without an error.
		err = context.Cause(ctx)
	}
	if err != nil {
		return nil, fail(transportFailure(ctx, err), resp.StatusCode, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fail(FetchTooLarge, resp.StatusCode, tooLarge)
	}
	return body, nil
}

// policyURL returns the policy URL of the policy domain host, given in
// A-labels (§3.3).
func policyURL(host string) string {
	return "https://mta-sts." + host + "/.well-known/mta-sts.txt"
}

// verifiedFor checks that a response came over a TLS connection that
// crypto/tls verified, for the name host. It guards against a client whose
// transport skips verification or verifies another name.
func verifiedFor(cs *tls.ConnectionState, host string) error {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return errors.New("the response did not come over TLS")
	}
	if len(cs.VerifiedChains) == 0 {
		return errors.New("the TLS connection was not verified: the client skips certificate verification")
	}
	return cs.PeerCertificates[0].VerifyHostname(host)
}

// transportFailure classifies an error of sending the request or reading
// the response.
func transportFailure(ctx context.Context, err error) FetchFailure {
	var (
		verifyErr   *tls.CertificateVerificationError
		hostErr     x509.HostnameError
		authErr     x509.UnknownAuthorityError
		invalidErr  x509.CertificateInvalidError
		rootsErr    x509.SystemRootsError
		certErr     *CertificateError
		netErr      net.Error
		isCertError = errors.As(err, &verifyErr) || errors.As(err, &hostErr) ||
			errors.As(err, &authErr) || errors.As(err, &invalidErr) ||
			errors.As(err, &rootsErr) || errors.As(err, &certErr)
	)
	switch {
	case isCertError:
		return FetchWebPKI
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return FetchTimeout
	}
	return FetchNetwork
}
