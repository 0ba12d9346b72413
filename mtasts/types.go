package mtasts

import "time"

// Mode is the policy mode of RFC 8461 §5: what a sender does when an MX host
// fails validation.
type Mode string

// The three policy modes defined by RFC 8461 §3.2 and §5.
const (
	// ModeEnforce: senders MUST NOT deliver to an MX host that fails MX
	// matching or certificate validation, or that does not support STARTTLS.
	ModeEnforce Mode = "enforce"
	// ModeTesting: senders deliver anyway and report failures via TLS-RPT.
	ModeTesting Mode = "testing"
	// ModeNone: the domain has no active policy (used to opt out, §8.3).
	ModeNone Mode = "none"
)

// MaxMaxAge is the largest max_age RFC 8461 §3.2 allows: 31557600 seconds (about one year).
const MaxMaxAge = 31557600 * time.Second

// Extension is a name/value pair that RFC 8461 does not define, kept in
// order so that a policy or record round-trips unchanged.
type Extension struct {
	Name  string `json:"name"`  // the field name, as written
	Value string `json:"value"` // the value, without surrounding whitespace
}

// Record is the TXT record published at _mta-sts.<policy-domain> (RFC 8461 §3.1),
// for example "v=STSv1; id=20160831085700Z;".
type Record struct {
	// ID identifies the policy version: 1 to 32 letters and digits. Senders
	// fetch the policy again when it changes.
	ID string `json:"id"`
	// Extensions holds fields other than v and id, in order.
	Extensions []Extension `json:"extensions,omitempty"`
}

// Policy is an MTA-STS policy file (RFC 8461 §3.2) as served at
// https://mta-sts.<policy-domain>/.well-known/mta-sts.txt.
//
// Policy implements encoding.TextMarshaler and TextUnmarshaler with the
// policy file itself, so its JSON form is a string holding the canonical
// text (MarshalText): max_age in seconds as the file has it, and no second
// representation to keep in step with the first.
type Policy struct {
	// Mode is enforce, testing or none.
	Mode Mode
	// MX lists the MX host patterns, each a host name in A-labels, lower case,
	// without a trailing dot, optionally starting with the wildcard label "*.".
	MX []string
	// MaxAge is how long a sender may cache the policy (max_age, whole seconds,
	// at most MaxMaxAge).
	MaxAge time.Duration
	// Extensions holds unknown fields, in order (§3.2: they SHALL be ignored).
	Extensions []Extension
}
