package tlsrpt

import (
	"errors"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file holds the report encoder: an appender that writes the strict
// RFC 8460 §4.4 form in one pass.

// MarshalJSON encodes r in the form of RFC 8460 §4.4: the members in the
// order of the schema, mx-host and policy-string as arrays, date-times in
// RFC 3339 UTC ("Z"), IPv6 addresses in RFC 5952 form, and optional members
// (policy-string, mx-host, failure-details, the IP addresses, host names,
// additional-information, failure-reason-code) omitted when empty. The
// output is compact valid UTF-8 (invalid bytes in strings become U+FFFD).
//
// MarshalJSON does not validate r, so that reports received with
// deviations can be stored; senders call Validate first. It fails only for
// date-times outside the years 0000–9999, which RFC 3339 cannot express.
//
// It has a value receiver so that json.Marshal uses it for Report values
// as well as pointers.
func (r Report) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, r.encodedSizeHint()))
}

var errYear = errors.New("tlsrpt: date-time year outside 0000-9999 cannot be written in RFC 3339")

func (r *Report) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"organization-name":`...)
	b = appendString(b, r.OrganizationName)
	b = append(b, `,"date-range":{"start-datetime":`...)
	var ok bool
	if b, ok = appendTime(b, r.DateRange.Start); !ok {
		return nil, errYear
	}
	b = append(b, `,"end-datetime":`...)
	if b, ok = appendTime(b, r.DateRange.End); !ok {
		return nil, errYear
	}
	b = append(b, `},"contact-info":`...)
	b = appendString(b, r.ContactInfo)
	b = append(b, `,"report-id":`...)
	b = appendString(b, r.ReportID)
	b = append(b, `,"policies":[`...)
	for i := range r.Policies {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPolicyResult(b, &r.Policies[i])
	}
	b = append(b, "]}"...)
	return b, nil
}

func appendPolicyResult(b []byte, pr *PolicyResult) []byte {
	p := &pr.Policy
	b = append(b, `{"policy":{"policy-type":`...)
	b = appendString(b, string(p.Type))
	if len(p.PolicyString) > 0 {
		b = append(b, `,"policy-string":`...)
		b = appendStrings(b, p.PolicyString)
	}
	b = append(b, `,"policy-domain":`...)
	b = appendString(b, p.Domain)
	if len(p.MXHost) > 0 {
		b = append(b, `,"mx-host":`...)
		b = appendStrings(b, p.MXHost)
	}
	b = append(b, `},"summary":{"total-successful-session-count":`...)
	b = strconv.AppendInt(b, pr.Summary.TotalSuccessfulSessionCount, 10)
	b = append(b, `,"total-failure-session-count":`...)
	b = strconv.AppendInt(b, pr.Summary.TotalFailureSessionCount, 10)
	b = append(b, '}')
	if len(pr.FailureDetails) > 0 {
		b = append(b, `,"failure-details":[`...)
		for i := range pr.FailureDetails {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFailureDetail(b, &pr.FailureDetails[i])
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendFailureDetail(b []byte, f *FailureDetail) []byte {
	b = append(b, `{"result-type":`...)
	b = appendString(b, string(f.ResultType))
	if f.SendingMTAIP.IsValid() {
		b = append(b, `,"sending-mta-ip":`...)
		b = appendAddr(b, f.SendingMTAIP)
	}
	if f.ReceivingMXHostname != "" {
		b = append(b, `,"receiving-mx-hostname":`...)
		b = appendString(b, f.ReceivingMXHostname)
	}
	if f.ReceivingMXHelo != "" {
		b = append(b, `,"receiving-mx-helo":`...)
		b = appendString(b, f.ReceivingMXHelo)
	}
	if f.ReceivingIP.IsValid() {
		b = append(b, `,"receiving-ip":`...)
		b = appendAddr(b, f.ReceivingIP)
	}
	b = append(b, `,"failed-session-count":`...)
	b = strconv.AppendInt(b, f.FailedSessionCount, 10)
	if f.AdditionalInformation != "" {
		b = append(b, `,"additional-information":`...)
		b = appendString(b, f.AdditionalInformation)
	}
	if f.FailureReasonCode != "" {
		b = append(b, `,"failure-reason-code":`...)
		b = appendString(b, f.FailureReasonCode)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendAddr writes an IP address in RFC 5952 form, without a zone.
func appendAddr(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	b = a.WithZone("").AppendTo(b)
	return append(b, '"')
}

// appendTime writes t in UTC as an RFC 3339 date-time with "Z" and the
// fraction of a second only when it is not zero.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, false
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = append4(b, year)
	b = append(b, '-')
	b = append2(b, int(month))
	b = append(b, '-')
	b = append2(b, day)
	b = append(b, 'T')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for k := 9; k >= 1; k-- {
			frac[k] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z', '"'), true
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Quotes, backslashes and control
// characters are escaped, as are U+2028 and U+2029 (as encoding/json does);
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// encodedSizeHint estimates the length of r's JSON form (exact for ASCII
// strings without escapes, a little above otherwise), so that MarshalJSON
// allocates once.
func (r *Report) encodedSizeHint() int {
	n := 160 + len(r.OrganizationName) + len(r.ContactInfo) + len(r.ReportID)
	for i := range r.Policies {
		p := &r.Policies[i]
		n += 160 + len(p.Policy.Type) + len(p.Policy.Domain)
		for _, s := range p.Policy.PolicyString {
			n += len(s) + 3
		}
		for _, s := range p.Policy.MXHost {
			n += len(s) + 3
		}
		n += 30
		for j := range p.FailureDetails {
			f := &p.FailureDetails[j]
			n += 240 + len(f.ResultType) + len(f.ReceivingMXHostname) + len(f.ReceivingMXHelo) +
				len(f.AdditionalInformation) + len(f.FailureReasonCode)
		}
	}
	return n
}
