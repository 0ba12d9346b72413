package mtasts

import (
	"errors"
	"fmt"
)

// Sentinel errors of package mtasts. Every error it returns matches one of
// them with errors.Is (or is a *FetchError or *CertificateError, which
// errors.As finds).
var (
	// ErrInvalidRecord reports a TXT record that claims to be an MTA-STS
	// record but does not follow the grammar of RFC 8461 §3.1. A sender
	// treats the domain as having no available policy.
	ErrInvalidRecord = errors.New("mtasts: invalid MTA-STS TXT record")

	// ErrNoRecord reports that none of the TXT records at _mta-sts.<domain>
	// begins with "v=STSv1;" (RFC 8461 §3.1).
	ErrNoRecord = errors.New("mtasts: no MTA-STS TXT record")

	// ErrMultipleRecords reports more than one TXT record beginning with
	// "v=STSv1;". RFC 8461 §3.1: the domain then has no available policy.
	ErrMultipleRecords = errors.New("mtasts: more than one MTA-STS TXT record")

	// ErrInvalidPolicy reports a policy file that does not follow RFC 8461
	// §3.2, or a Policy value that could not be published as one. RFC 8461
	// §3.2: if any field is not syntactically valid, the policy is invalid.
	ErrInvalidPolicy = errors.New("mtasts: invalid MTA-STS policy")

	// ErrInvalidDomain reports a name that NormalizeDomain cannot turn into
	// a host name of A-labels (RFC 8461 §3.2 and §4.1, RFC 5890).
	ErrInvalidDomain = errors.New("mtasts: invalid domain name")

	// ErrDNSTemporary reports that the TXT lookup failed without an answer:
	// SERVFAIL, REFUSED, a timeout, a network error. Every resolver error other
	// than "not found" counts as temporary, because only an answer says that a
	// record does not exist. RFC 8461 §3.3: a sender then keeps using a policy
	// it has cached; with none cached, the domain has no available policy for
	// now.
	ErrDNSTemporary = errors.New("mtasts: temporary DNS failure")

	// ErrUnknownDomain is returned by a Handler's Policy function for a domain
	// the policy host does not serve. The handler answers 404 Not Found.
	ErrUnknownDomain = errors.New("mtasts: unknown policy domain")

	// ErrInvalidDNSRecord reports a DNSRecord that cannot be published: a bad
	// owner name or CNAME target, a TTL outside RFC 2181 §8, an empty TXT
	// text or one with characters other than printable US-ASCII.
	ErrInvalidDNSRecord = errors.New("mtasts: invalid DNS record")
)

// A SyntaxError describes where and why a TXT record or a policy file fails
// to parse. Err is ErrInvalidRecord or ErrInvalidPolicy, so
// errors.Is(err, ErrInvalidPolicy) holds for every policy syntax error.
type SyntaxError struct {
	// Err is the sentinel: ErrInvalidRecord or ErrInvalidPolicy.
	Err error
	// Line is the 1-based line of the problem. A TXT record has one line.
	// For a field that is missing altogether it is the line after the
	// last one, where the field could be added.
	Line int
	// Column is the 1-based character (not byte) position in the line.
	Column int
	// Msg says what is wrong, in words a person can act on.
	Msg string
	// Fix, if not empty, suggests a correction, such as
	// "rename nmx to mx".
	Fix string
}

// Error formats the error as "mtasts: policy line L, column C: message
// (fix)"; for a TXT record, "mtasts: TXT record column C: message (fix)".
func (e *SyntaxError) Error() string {
	what := "policy"
	if e.Err == ErrInvalidRecord {
		what = "TXT record"
		if e.Fix != "" {
			return fmt.Sprintf("mtasts: %s column %d: %s (%s)", what, e.Column, e.Msg, e.Fix)
		}
		return fmt.Sprintf("mtasts: %s column %d: %s", what, e.Column, e.Msg)
	}
	if e.Fix != "" {
		return fmt.Sprintf("mtasts: %s line %d, column %d: %s (%s)", what, e.Line, e.Column, e.Msg, e.Fix)
	}
	return fmt.Sprintf("mtasts: %s line %d, column %d: %s", what, e.Line, e.Column, e.Msg)
}

// Unwrap returns Err, so errors.Is(err, ErrInvalidPolicy) and
// errors.Is(err, ErrInvalidRecord) work.
func (e *SyntaxError) Unwrap() error { return e.Err }
