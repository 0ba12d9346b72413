package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// maxTTL is the largest TTL RFC 2181 §8 allows: 2^31 - 1 seconds.
const maxTTL = 1<<31 - 1

// maxCharString is the longest DNS character-string (RFC 1035 §3.3): one
// length byte, so 255 bytes.
const maxCharString = 255

// A DNSRecord is one resource record a domain publishes for MTA-STS or
// TLS-RPT, as the plain values a DNS provider's API asks for. RecordTXT,
// RecordCNAME and PolicyHostCNAME build the MTA-STS ones; any other (the
// TLS-RPT record of RFC 8460 §3, say) is a literal:
//
//	rr := mtasts.DNSRecord{Name: "_smtp._tls.example.com.", Type: "TXT", TTL: time.Hour,
//		Value: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}
//	err := rr.Validate()
//
// String gives the line for a zone file (RFC 1035 §5.1).
type DNSRecord struct {
	// Name is the owner name, absolute, in lower-case A-labels:
	// "_mta-sts.example.com.".
	Name string
	// Type is "TXT" or "CNAME".
	Type string
	// TTL is how long resolvers may cache the record, in whole seconds.
	TTL time.Duration
	// Value is the record data: for TXT the whole text, unquoted and
	// unsplit ("v=STSv1; id=20240501"); for CNAME the absolute target
	// ("_mta-sts.provider.example.").
	Value string
}

// String returns r as a zone-file line: name, TTL in seconds, class IN,
// type and data, separated by single spaces. A TXT text is written as
// quoted character-strings of at most 255 bytes each, which resolvers
// join without separators (RFC 8461 §3.1); a double quote or backslash in
// it is escaped.
func (r DNSRecord) String() string {
	var b strings.Builder
	b.Grow(len(r.Name) + len(r.Value) + 32)
	b.WriteString(r.Name)
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(int64(r.TTL/time.Second), 10))
	b.WriteString(" IN ")
	b.WriteString(r.Type)
	b.WriteByte(' ')
	if r.Type != "TXT" {
		b.WriteString(r.Value)
		return b.String()
	}
	for i, text := 0, r.Value; len(text) > 0 || i == 0; i++ {
		n := min(len(text), maxCharString)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for j := 0; j < n; j++ {
			if c := text[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(text[j])
		}
		b.WriteByte('"')
		text = text[n:]
	}
	return b.String()
}

// Validate reports whether r can be published as it is: Name an absolute
// host name in lower-case A-labels of at most 253 characters, Type TXT or
// CNAME, TTL from 0 to 2^31-1 seconds (RFC 2181 §8), a TXT Value of
// printable US-ASCII and not empty, a CNAME Value an absolute host name.
// Every error matches ErrInvalidDNSRecord.
func (r DNSRecord) Validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidDNSRecord}, args...)...)
	}
	if err := checkAbsolute(r.Name); err != nil {
		return invalid("owner name %s: %v", escape.Quote(r.Name), err)
	}
	if secs := r.TTL / time.Second; secs < 0 || secs > maxTTL {
		return invalid("TTL %v is outside 0 to %d seconds (RFC 2181 §8)", r.TTL, maxTTL)
	}
	switch r.Type {
	case "TXT":
		if r.Value == "" {
			return invalid("empty TXT text")
		}
		for i := 0; i < len(r.Value); i++ {
			if c := r.Value[i]; c < 0x20 || c > 0x7e {
				return invalid("TXT text: %s at byte %d; only printable US-ASCII is allowed", describeChar(r.Value, i), i)
			}
		}
	case "CNAME":
		if err := checkAbsolute(r.Value); err != nil {
			return invalid("CNAME target %s: %v", escape.Quote(r.Value), err)
		}
	default:
		return invalid("type %s; want TXT or CNAME", escape.Quote(r.Type))
	}
	return nil
}

// checkAbsolute reports whether name is an absolute host name in its
// normal form: lower-case A-labels and a trailing dot.
func checkAbsolute(name string) error {
	host, ok := strings.CutSuffix(name, ".")
	if !ok {
		return errors.New("not absolute (no trailing dot)")
	}
	if len(host) > 253 {
		return errors.New("longer than 253 characters")
	}
	// Owner names of MTA-STS and TLS-RPT records begin with underscore
	// labels (_mta-sts, _smtp._tls), which host names cannot hold.
	rest := host
	for {
		label, after, ok := strings.Cut(rest, ".")
		if !ok || !strings.HasPrefix(label, "_") {
			break
		}
		if len(label) < 2 || len(label) > 63 {
			return fmt.Errorf("label %s is not 2 to 63 characters", escape.Quote(label))
		}
		rest = after
	}
	if n, err := NormalizeDomain(rest); err != nil {
		return err
	} else if n != rest {
		return fmt.Errorf("not in normal form (%s)", n)
	}
	return nil
}

// RecordTXT returns the MTA-STS TXT record of the policy domain domain
// (RFC 8461 §3.1): _mta-sts.<domain> with the text of r.String(), for
// example "v=STSv1; id=20160831085700Z". The domain may be given in upper
// case, with a trailing dot or in U-labels; the owner name is written in
// A-labels, lower case, absolute. ttl is rounded down to whole seconds.
//
// The record must be valid by ParseRecord: an id of 1 to 32 letters and
// digits, extension names and values by the §3.1 grammar. Set a new id
// only after the policy it describes is served (§8.1); PolicyID derives
// one from the content.
func RecordTXT(domain string, r *Record, ttl time.Duration) (DNSRecord, error) {
	if r == nil {
		return DNSRecord{}, fmt.Errorf("%w: nil record", ErrInvalidRecord)
	}
	text := r.String()
	parsed, err := ParseRecord(text)
	if err != nil {
		return DNSRecord{}, err
	}
	if parsed.String() != text {
		// Text that parses but means another record, such as an id
		// with a trailing space ("id=0 ; x=1" reads as id 0).
		return DNSRecord{}, &SyntaxError{Err: ErrInvalidRecord, Line: 1, Column: 1,
			Msg: fmt.Sprintf("the record reads back as %s: an id or extension holds characters its grammar does not allow", escape.Quote(parsed.String()))}
	}
	return newRecord("_mta-sts.", domain, "TXT", text, ttl)
}

// RecordCNAME returns the CNAME that delegates the MTA-STS TXT record of
// domain to a hosting provider (RFC 8461 §8.2):
// _mta-sts.<domain> CNAME _mta-sts.<provider>. The provider then controls
// the policy id, and must serve the policy for mta-sts.<domain> (see
// PolicyHostCNAME) with a certificate valid for that name.
func RecordCNAME(domain, provider string, ttl time.Duration) (DNSRecord, error) {
	target, err := NormalizeDomain(provider)
	if err != nil {
		return DNSRecord{}, fmt.Errorf("%w: provider domain %s: %w", ErrInvalidDNSRecord, escape.Quote(provider), err)
	}
	return newRecord("_mta-sts.", domain, "CNAME", "_mta-sts."+target+".", ttl)
}

// PolicyHostCNAME returns the CNAME that points the policy host of domain
// at a hosting provider's server (RFC 8461 §8.2):
// mta-sts.<domain> CNAME <target>, for example target
// "mta-sts.provider.example". Senders still ask for
// https://mta-sts.<domain>/ and check the certificate against that name,
// so the provider must hold a certificate for mta-sts.<domain>; an HTTP
// redirect instead of the CNAME does not work, as senders do not follow
// redirects (§3.3).
func PolicyHostCNAME(domain, target string, ttl time.Duration) (DNSRecord, error) {
	t, err := NormalizeDomain(target)
	if err != nil {
		return DNSRecord{}, fmt.Errorf("%w: CNAME target %s: %w", ErrInvalidDNSRecord, escape.Quote(target), err)
	}
	return newRecord("mta-sts.", domain, "CNAME", t+".", ttl)
}

// newRecord returns the record of type rtype at prefix+domain, validated.
func newRecord(prefix, domain, rtype, value string, ttl time.Duration) (DNSRecord, error) {
	host, err := NormalizeDomain(domain)
	if err != nil {
		return DNSRecord{}, fmt.Errorf("%w: domain %s: %w", ErrInvalidDNSRecord, escape.Quote(domain), err)
	}
	rr := DNSRecord{Name: prefix + host + ".", Type: rtype, TTL: ttl.Truncate(time.Second), Value: value}
	if err := rr.Validate(); err != nil {
		return DNSRecord{}, err
	}
	return rr, nil
}
