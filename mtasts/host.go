package mtasts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// PolicyPath is the path at which a policy host serves the policy file
// (RFC 8461 §3.2): https://mta-sts.<policy-domain>/.well-known/mta-sts.txt.
const PolicyPath = "/.well-known/mta-sts.txt"

// defaultCacheMaxAge is the Cache-Control max-age Handler sends when
// CacheMaxAge is zero.
const defaultCacheMaxAge = time.Minute

// Handler is the policy host of RFC 8461 §3.2: an http.Handler serving
// /.well-known/mta-sts.txt for any number of policy domains, each under its
// own host name mta-sts.<policy-domain>. One Handler behind one listener
// can serve thousands of domains, as a hosting provider does under §8.2
// delegation; the TLS certificate for every mta-sts.<domain> name is the
// server's business (crypto/tls GetCertificate, autocert), and ServesHost
// tells a certificate manager which names those are.
//
// A request is answered as follows:
//
//   - A path other than PolicyPath: 404 Not Found.
//   - A method other than GET or HEAD: 405 Method Not Allowed, with
//     "Allow: GET, HEAD".
//   - A Host that is not mta-sts.<domain> (letter case, a port and a
//     trailing dot are ignored; U-labels are converted to A-labels), or a
//     domain for which Policy returns nil or an error matching
//     ErrUnknownDomain: 404 Not Found.
//   - Any other error of Policy, or a policy that fails Validate: 500
//     Internal Server Error, logged. A sender treats it like any failed
//     fetch (§3.3) and keeps the policy it has cached.
//   - Otherwise 200 OK with the policy in the canonical form of
//     MarshalText (CRLF line endings), "Content-Type: text/plain;
//     charset=utf-8", Content-Length and "Cache-Control: max-age=N".
//
// The handler never redirects: senders MUST NOT follow redirects (§3.3).
// Serve it over HTTPS only; senders do not fetch policies over plain HTTP.
// Publish a changed policy here before the TXT record with its new id
// (§8.1; see PolicyID and RecordTXT).
//
// Handler is safe for concurrent use if Policy is. Its fields must not be
// changed while it serves.
type Handler struct {
	// Policy returns the policy of the policy domain domain, given in
	// A-labels, lower case, without a trailing dot ("example.com" for a
	// request to mta-sts.example.com). It returns nil or ErrUnknownDomain
	// for a domain the host does not serve. ctx is the request's context.
	// The handler does not modify the policy.
	Policy func(ctx context.Context, domain string) (*Policy, error)

	// CacheMaxAge is the max-age of the Cache-Control header, in whole
	// seconds. Zero means one minute, which keeps a changed policy
	// visible before the TXT record announcing it is published (§8.1);
	// a negative value sends no
	// Cache-Control header. Senders themselves MUST NOT use HTTP caching
	// (§3.3) and rely on max_age and the TXT id instead; the header only
	// lets a reverse proxy or CDN in front of the host absorb load.
	CacheMaxAge time.Duration

	// Logger receives errors of Policy and invalid policies. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PolicyPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	domain, ok := policyDomainOfHost(r.Host)
	if !ok {
		http.NotFound(w, r)
		return
	}
	var p *Policy
	var err error
	if h.Policy != nil {
		p, err = h.Policy(r.Context(), domain)
	}
	if errors.Is(err, ErrUnknownDomain) || err == nil && p == nil {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.logger().ErrorContext(r.Context(), "mtasts: policy lookup failed", "domain", domain, "error", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	body, err := p.MarshalText()
	if err != nil {
		h.logger().ErrorContext(r.Context(), "mtasts: refusing to serve an invalid policy", "domain", domain, "error", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	// The header values share one allocation; each slice is capped so that
	// an append by a wrapping ResponseWriter copies instead of overwriting.
	vals := [4]string{"text/plain; charset=utf-8", strconv.Itoa(len(body)), "nosniff", h.cacheControl()}
	hdr := w.Header()
	hdr["Content-Type"] = vals[0:1:1]
	hdr["Content-Length"] = vals[1:2:2]
	hdr["X-Content-Type-Options"] = vals[2:3:3]
	if vals[3] != "" {
		hdr["Cache-Control"] = vals[3:4:4]
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// ServesHost returns nil if h serves a policy at host, the name a TLS
// client sent as its server name or the Host of an HTTP request: host is
// mta-sts.<domain> (letter case, a port and a trailing dot are ignored;
// U-labels are converted to A-labels) and Policy returns a policy for
// domain. Otherwise it returns an error matching ErrUnknownDomain, or the
// error of Policy, which the caller should treat as a refusal too.
//
// Its signature is that of autocert.HostPolicy
// (golang.org/x/crypto/acme/autocert), so that a certificate manager asks
// its certificate authority only for the names the handler serves, each
// name mta-sts.<domain> of RFC 8461 §3.2, and never for a name somebody
// merely pointed at the server:
//
//	m := &autocert.Manager{Prompt: autocert.AcceptTOS, HostPolicy: h.ServesHost, Cache: autocert.DirCache(dir)}
//
// ServesHost reads the Policy function at every call, so a host name is
// allowed exactly as long as its domain is served. It is safe for
// concurrent use if Policy is.
func (h *Handler) ServesHost(ctx context.Context, host string) error {
	domain, ok := policyDomainOfHost(host)
	if !ok {
		return fmt.Errorf("%w: %s is not mta-sts.<domain>", ErrUnknownDomain, escape.Quote(host))
	}
	var p *Policy
	var err error
	if h.Policy != nil {
		p, err = h.Policy(ctx, domain)
	}
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnknownDomain, domain)
	}
	return nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) cacheControl() string {
	switch age := h.CacheMaxAge; {
	case age == 0, age == defaultCacheMaxAge:
		return "max-age=60"
	case age < 0:
		return ""
	default:
		return "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
	}
}

// policyDomainOfHost returns the policy domain of a request's Host header:
// the name after "mta-sts.", in A-labels, lower case, without a port or a
// trailing dot.
func policyDomainOfHost(host string) (string, bool) {
	if strings.IndexByte(host, ':') >= 0 {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			return "", false
		}
		host = h
	}
	name, err := toASCIIHost(host)
	if err != nil {
		return "", false
	}
	domain, ok := strings.CutPrefix(name, "mta-sts.")
	return domain, ok && domain != ""
}
