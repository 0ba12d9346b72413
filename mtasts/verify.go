package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// CertificateFailure names the check of RFC 8461 §4.2 that an MX host's
// certificate failed. Each value corresponds to one TLS-RPT result type of
// RFC 8460 §4.3, given with the constant.
type CertificateFailure int

// The checks of RFC 8461 §4.2, in the order VerifyMXCertificate runs them.
const (
	// CertificateExpired: the certificate, or one in its chain, has
	// expired. TLS-RPT: certificate-expired.
	CertificateExpired CertificateFailure = iota + 1
	// CertificateNotTrusted: no chain leads from the certificate to a root
	// CA the sender trusts: unknown issuer, self-signed, a missing
	// intermediate, or a chain that breaks a CA's constraints.
	// TLS-RPT: certificate-not-trusted.
	CertificateNotTrusted
	// CertificateHostMismatch: no subject alternative name of type dNSName
	// matches the MX host name (RFC 6125; the subject common name is not
	// consulted). TLS-RPT: certificate-host-mismatch.
	CertificateHostMismatch
	// CertificateInvalid: any other reason, such as no certificate at all,
	// a certificate not yet valid, a key usage that does not allow TLS
	// server authentication, or no trusted roots available to the sender.
	// TLS-RPT: validation-failure.
	CertificateInvalid
)

// String returns a short description such as "expired" or "host mismatch".
func (f CertificateFailure) String() string {
	switch f {
	case CertificateExpired:
		return "expired"
	case CertificateNotTrusted:
		return "not trusted"
	case CertificateHostMismatch:
		return "host mismatch"
	case CertificateInvalid:
		return "invalid"
	}
	return fmt.Sprintf("CertificateFailure(%d)", int(f))
}

// CertificateError reports an MX host certificate that fails RFC 8461 §4.2,
// and which check it failed.
//
// Err is the error of crypto/x509 that describes the failure, so a TLS-RPT
// classifier can use errors.As on the standard types:
// x509.CertificateInvalidError with Reason x509.Expired for
// CertificateExpired (and for a certificate not yet valid, whose Detail says
// "is before", as crypto/x509 writes it), x509.UnknownAuthorityError or
// x509.CertificateInvalidError with a chain-building reason for
// CertificateNotTrusted, x509.HostnameError for CertificateHostMismatch.
type CertificateError struct {
	// Host is the MX host name that was checked, in A-labels, lower case,
	// without a trailing dot.
	Host string
	// Reason is the check that failed.
	Reason CertificateFailure
	// Err is the underlying error.
	Err error
}

// Error formats the MX host, the reason and the underlying error.
func (e *CertificateError) Error() string {
	return fmt.Sprintf("mtasts: certificate of MX host %s: %s: %v", e.Host, e.Reason, e.Err)
}

// Unwrap returns Err.
func (e *CertificateError) Unwrap() error { return e.Err }

// errNoCertificate is the Err of a CertificateError for a server that
// presented no certificate.
var errNoCertificate = errors.New("no certificate presented")

// VerifyOptions configures the MX certificate checks. The zero value uses
// the system roots and the wall clock.
type VerifyOptions struct {
	// Roots are the trusted root CAs. Nil means the system roots, which is
	// what RFC 8461 §4.2 expects: "a root CA that is trusted by the
	// sending MTA".
	Roots *x509.CertPool
	// Now returns the time at which validity periods are checked. Nil
	// means time.Now.
	Now func() time.Time
}

func (o VerifyOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// VerifyMXCertificate checks the certificates an MX host presented in the
// STARTTLS handshake (leaf first, then any intermediates, as in
// tls.ConnectionState.PeerCertificates) against RFC 8461 §4.2: the
// certificate MUST be non-expired, MUST chain to a trusted root CA and MUST
// have a subject alternative name of type dNSName matching host per RFC
// 6125. A wildcard matches exactly one whole left-most label:
// "*.example.com" covers "mx1.example.com" but neither "example.com" nor
// "a.b.example.com". A certificate naming the host only in its subject
// common name fails. Revocation, which §4.2 makes optional, is not checked.
//
// Host is the MX host name as found in the MX record; it may be in upper
// case, end in a dot or use U-labels ("mäil.example.com"), which are
// converted to A-labels before matching.
//
// It returns nil or a *CertificateError naming the first check that failed,
// in this order: validity period of the leaf, trust chain (including the
// validity of intermediates), host name. Expiry comes first, as in
// crypto/tls, because it is the most common failure of a once-working
// setup; the host name comes last because the names in a certificate
// nobody vouches for prove nothing. So an expired self-signed certificate
// is CertificateExpired, and a self-signed certificate for the wrong name
// is CertificateNotTrusted (crypto/tls would say host mismatch). A
// certificate that is not yet valid is CertificateInvalid: it has not
// expired, and RFC 8460 has no closer result type.
//
// A test-mode sender and an enforcing one need the same detail: both
// report the failure with TLS-RPT (RFC 8460); only the enforcing one stops.
// In testing mode (§5) a sender delivers even when this check fails, so it
// completes the handshake without verification and then calls
// VerifyMXCertificate on ConnectionState().PeerCertificates to learn what
// to report.
func VerifyMXCertificate(certs []*x509.Certificate, host string, opts VerifyOptions) error {
	name, nameErr := mxHostName(host)
	if len(certs) == 0 {
		return &CertificateError{Host: name, Reason: CertificateInvalid, Err: errNoCertificate}
	}
	leaf := certs[0]
	now := opts.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return &CertificateError{Host: name, Reason: validityFailure(leaf, now), Err: validityError(leaf, now)}
	}
	var intermediates *x509.CertPool
	if len(certs) > 1 {
		intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			intermediates.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return &CertificateError{Host: name, Reason: chainFailure(err, now), Err: err}
	}
	if nameErr != nil || net.ParseIP(name) != nil {
		// Not a DNS name: no dNSName can match it (§4.2 matches DNS-IDs only).
		return &CertificateError{Host: name, Reason: CertificateHostMismatch, Err: x509.HostnameError{Certificate: leaf, Host: host}}
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return &CertificateError{Host: name, Reason: CertificateHostMismatch, Err: err}
	}
	return nil
}

// validityError describes a certificate outside its validity period at
// now, in the words of crypto/x509.
func validityError(c *x509.Certificate, now time.Time) error {
	detail := fmt.Sprintf("current time %s is after %s", now.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	if now.Before(c.NotBefore) {
		detail = fmt.Sprintf("current time %s is before %s", now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return x509.CertificateInvalidError{Cert: c, Reason: x509.Expired, Detail: detail}
}

// validityFailure tells an expired certificate from one not yet valid,
// which RFC 8460 has no result type for.
func validityFailure(c *x509.Certificate, now time.Time) CertificateFailure {
	if now.Before(c.NotBefore) {
		return CertificateInvalid
	}
	return CertificateExpired
}

// chainFailure classifies an error of x509.Certificate.Verify at time now.
func chainFailure(err error, now time.Time) CertificateFailure {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			if invalid.Cert != nil {
				return validityFailure(invalid.Cert, now)
			}
			return CertificateExpired
		case x509.NotAuthorizedToSign, x509.TooManyIntermediates, x509.NameMismatch, x509.NoValidChains,
			x509.CANotAuthorizedForThisName, x509.NameConstraintsWithoutSANs, x509.UnconstrainedName, x509.TooManyConstraints:
			// The chain cannot be built within the CAs' constraints.
			return CertificateNotTrusted
		}
		return CertificateInvalid
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return CertificateNotTrusted
	}
	// x509.SystemRootsError (the sender has no roots) and anything else.
	return CertificateInvalid
}

// MXTLSConfig returns a client *tls.Config for the STARTTLS connection to
// the MX host host that enforces RFC 8461 §4.2 (see VerifyMXCertificate).
// A handshake with a certificate that fails returns the *CertificateError,
// unchanged, from (*tls.Conn).Handshake, so the caller can tell the
// receiving domain, with TLS-RPT, which check failed.
//
// The config sets ServerName (for SNI) to host in A-labels. It sets
// InsecureSkipVerify only to replace crypto/tls's own verification by
// VerifyConnection, which runs every check of VerifyMXCertificate, also on
// resumed sessions; never clear VerifyConnection on a copy. To add the
// checks to a config of one's own, copy both fields:
//
//	mx := mtasts.MXTLSConfig(host, opts)
//	cfg.InsecureSkipVerify, cfg.VerifyConnection = true, mx.VerifyConnection
//
// Minimum TLS version and cipher suites are crypto/tls's client defaults.
func MXTLSConfig(host string, opts VerifyOptions) *tls.Config {
	name, _ := mxHostName(host)
	return &tls.Config{
		ServerName:         name,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyMXCertificate(cs.PeerCertificates, host, opts)
		},
	}
}

// mxHostName returns host in A-labels, lower case, without a trailing dot.
// When host is not a valid host name it returns it lower-cased and without
// a trailing dot, with the error.
func mxHostName(host string) (string, error) {
	name, err := toASCIIHost(host)
	if err != nil {
		return lowerASCIINoDot(host), err
	}
	return name, nil
}
