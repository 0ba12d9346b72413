package tlsrpt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"
)

// ErrSTARTTLSNotSupported is the error an MTA returns (or wraps) when the
// receiving MX did not offer STARTTLS in its EHLO response. Classify maps it
// to starttls-not-supported (RFC 8460 §4.3.1).
var ErrSTARTTLSNotSupported = errors.New("tlsrpt: STARTTLS not offered by the receiving MX")

// maxReasonLen bounds the failure-reason-code Classify derives from an
// error's text.
const maxReasonLen = 200

// Classify maps the error of a failed SMTP TLS session to the result type
// of RFC 8460 §4.3 and a failure-reason-code (§4.4), so that an MTA records
// a failure with one call. It looks through wrapped errors (errors.As), so
// the error may come straight from crypto/tls, from an MTA-STS certificate
// verifier that wraps the crypto/x509 error types, or from the MTA's own
// wrapping:
//
//   - ErrSTARTTLSNotSupported: starttls-not-supported.
//   - x509.CertificateInvalidError with reason Expired: certificate-expired
//     ("X509_V_ERR_CERT_HAS_EXPIRED"), or validation-failure
//     ("X509_V_ERR_CERT_NOT_YET_VALID") for a certificate not yet valid.
//   - x509.HostnameError: certificate-host-mismatch
//     ("X509_V_ERR_HOSTNAME_MISMATCH").
//   - x509.UnknownAuthorityError: certificate-not-trusted
//     ("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT" for a self-signed
//     certificate, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY" otherwise).
//   - x509.CertificateInvalidError with a chain-building reason (a CA not
//     allowed to sign, too many intermediates, a name constraint or issuer
//     name mismatch, no valid chain): certificate-not-trusted; with a key
//     usage reason: validation-failure ("X509_V_ERR_INVALID_PURPOSE").
//   - Other x509 errors, TLS alerts (tls.AlertError, or an alert received
//     from or sent to the server), tls.RecordHeaderError (the server did not
//     speak TLS after STARTTLS), time-outs, connection resets and
//     unexpected ends of the connection: validation-failure, the catch-all
//     of §4.3.1, with a reason code naming the cause.
//
// Reason codes of certificate failures are the OpenSSL X509_V_ERR_* names
// that reports commonly carry (the RFC's example does); the others are short
// descriptions. Any other non-nil error is a validation-failure with its text
// (at most 200 bytes) as the reason. Classify(nil) returns "", "".
//
// Errors before STARTTLS (connection refused, DNS) are not TLS failures;
// RFC 8460 has no result type for them, and an MTA usually does not count
// them. Policy failures (sts-policy-fetch-error and the others of §4.3.2)
// come from the policy lookup, not from the session, and are not derived
// here.
func Classify(err error) (ResultType, string) {
	if err == nil {
		return "", ""
	}
	if errors.Is(err, ErrSTARTTLSNotSupported) {
		return ResultSTARTTLSNotSupported, ""
	}
	if rt, reason, ok := classifyX509(err); ok {
		return rt, reason
	}
	if rt, reason, ok := classifyTLS(err); ok {
		return rt, reason
	}
	if reason, ok := classifyNet(err); ok {
		return ResultValidationFailure, reason
	}
	return ResultValidationFailure, truncate(err.Error())
}

// asError is errors.As for an error type used both as a value and as a
// pointer, as the crypto/x509 error types are.
func asError[T error, PT interface {
	*T
	error
}](err error) (T, bool) {
	var v T
	if errors.As(err, &v) {
		return v, true
	}
	var p PT
	if errors.As(err, &p) && p != nil {
		return *p, true
	}
	return v, false
}

func classifyX509(err error) (ResultType, string, bool) {
	if e, ok := asError[x509.CertificateInvalidError](err); ok {
		switch e.Reason {
		case x509.Expired:
			if strings.Contains(e.Detail, " is before ") {
				return ResultValidationFailure, "X509_V_ERR_CERT_NOT_YET_VALID", true
			}
			return ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED", true
		case x509.NotAuthorizedToSign:
			return ResultCertificateNotTrusted, "X509_V_ERR_INVALID_CA", true
		case x509.TooManyIntermediates:
			return ResultCertificateNotTrusted, "X509_V_ERR_PATH_LENGTH_EXCEEDED", true
		case x509.CANotAuthorizedForThisName, x509.NameConstraintsWithoutSANs, x509.UnconstrainedName, x509.TooManyConstraints:
			return ResultCertificateNotTrusted, "X509_V_ERR_PERMITTED_VIOLATION", true
		case x509.NameMismatch:
			return ResultCertificateNotTrusted, "X509_V_ERR_SUBJECT_ISSUER_MISMATCH", true
		case x509.NoValidChains:
			return ResultCertificateNotTrusted, "X509_V_ERR_CERT_UNTRUSTED", true
		case x509.IncompatibleUsage, x509.CANotAuthorizedForExtKeyUsage:
			return ResultValidationFailure, "X509_V_ERR_INVALID_PURPOSE", true
		}
		return ResultValidationFailure, truncate(e.Error()), true
	}
	if _, ok := asError[x509.HostnameError](err); ok {
		return ResultCertificateHostMismatch, "X509_V_ERR_HOSTNAME_MISMATCH", true
	}
	if e, ok := asError[x509.UnknownAuthorityError](err); ok {
		if c := e.Cert; c != nil && string(c.RawIssuer) == string(c.RawSubject) &&
			c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return ResultCertificateNotTrusted, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", true
		}
		return ResultCertificateNotTrusted, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", true
	}
	if _, ok := asError[x509.UnhandledCriticalExtension](err); ok {
		return ResultValidationFailure, "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION", true
	}
	if e, ok := asError[x509.SystemRootsError](err); ok {
		return ResultValidationFailure, truncate(e.Error()), true
	}
	if e, ok := asError[x509.InsecureAlgorithmError](err); ok {
		return ResultValidationFailure, truncate(e.Error()), true
	}
	if e, ok := asError[x509.ConstraintViolationError](err); ok {
		return ResultValidationFailure, truncate(e.Error()), true
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return ResultValidationFailure, truncate(verr.Error()), true
	}
	return "", "", false
}

func classifyTLS(err error) (ResultType, string, bool) {
	if e, ok := asError[tls.RecordHeaderError](err); ok {
		return ResultValidationFailure, "not a TLS record: " + e.Msg, true
	}
	// crypto/tls reports a TCP alert as a *net.OpError with Op "remote
	// error" (received) or "local error" (sent) and the alert as Err.
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error") && op.Err != nil {
		if text, ok := strings.CutPrefix(op.Err.Error(), "tls: "); ok {
			if op.Op == "remote error" {
				return ResultValidationFailure, "TLS alert received: " + text, true
			}
			return ResultValidationFailure, "TLS alert sent: " + text, true
		}
	}
	if e, ok := asError[tls.AlertError](err); ok {
		return ResultValidationFailure, "TLS alert: " + strings.TrimPrefix(e.Error(), "tls: "), true
	}
	return "", "", false
}

func classifyNet(err error) (string, bool) {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection closed", true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return "network error: " + op.Op, true
	}
	return "", false
}

func truncate(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	s = s[:maxReasonLen]
	// Drop a UTF-8 sequence cut in the middle.
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				s = s[:i]
			}
			break
		}
	}
	return s
}
