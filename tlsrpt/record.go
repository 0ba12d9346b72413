package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Record is the TLS-RPT policy a domain publishes in a TXT record at
// _smtp._tls.<domain> (RFC 8460 §3), for example
//
//	v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1
type Record struct {
	// RUA lists the aggregate report URIs of every rua field, in order.
	// Each is a syntactically valid URI; mailto: URIs carry valid
	// addresses and https: URIs a host. URIs of other schemes (http:, for
	// example) are kept but not usable: RFC 8460 §3 defines only mailto:
	// and https:. Destinations returns the usable ones.
	RUA []*url.URL
	// Extensions holds the fields other than v and rua, in order. RFC 8460
	// §3 defines none; readers ignore them.
	Extensions []Extension
}

// Extension is a field of a TLS-RPT record that RFC 8460 does not define
// (tlsrpt-extension in §3): a name of 1 to 32 letters, digits, "_", "-" and
// "." starting with a letter or digit, and a value of printable US-ASCII
// without ";", "=" or space.
type Extension struct {
	Name  string
	Value string
}

// Errors of ParseRecord and SelectRecord.
var (
	// ErrInvalidRecord is matched by every *RecordError: a TXT record that
	// starts like a TLS-RPT record but does not follow RFC 8460 §3.
	ErrInvalidRecord = errors.New("tlsrpt: invalid TLS-RPT record")
	// ErrNoRecord means no TXT record begins with "v=TLSRPTv1;": the
	// domain does not request TLS reports.
	ErrNoRecord = errors.New("tlsrpt: no TLS-RPT record")
	// ErrMultipleRecords means more than one TXT record begins with
	// "v=TLSRPTv1;". RFC 8460 §3: the sender MUST then assume the domain does
	// not implement TLS-RPT.
	ErrMultipleRecords = errors.New("tlsrpt: more than one TLS-RPT record")
)

// A RecordError describes why a TXT record is not a valid TLS-RPT record.
// It matches ErrInvalidRecord.
type RecordError struct {
	Record string // the TXT record text
	Line   int    // always 1: a record is one line
	Column int    // 1-based byte position of the error in Record
	Msg    string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("tlsrpt: invalid TLS-RPT record at column %d: %s", e.Column, e.Msg)
}

// Is makes a RecordError match ErrInvalidRecord.
func (e *RecordError) Is(target error) bool { return target == ErrInvalidRecord }

const recordVersion = "v=TLSRPTv1"

// isCandidate reports whether a TXT record is a TLS-RPT record for the
// selection rule of RFC 8460 §3: it begins with "v=TLSRPTv1;", where white
// space may precede the ";" as the ABNF's field-delim allows (the same rule
// as mtasts applies to "v=STSv1;").
func isCandidate(txt string) bool {
	if !strings.HasPrefix(txt, recordVersion) {
		return false
	}
	i := skipWSP(txt, len(recordVersion))
	return i < len(txt) && txt[i] == ';'
}

// SelectRecord applies the rules of RFC 8460 §3 to the TXT records found at
// _smtp._tls.<domain>, each given as the concatenation of its strings (as
// net.Resolver.LookupTXT returns them): records that do not begin with
// "v=TLSRPTv1;" (white space allowed before the ";") are discarded; if none is left the error is ErrNoRecord, if
// more than one ErrMultipleRecords; otherwise the one left is parsed.
func SelectRecord(txts []string) (*Record, error) {
	var found string
	n := 0
	for _, t := range txts {
		if isCandidate(t) {
			found = t
			n++
		}
	}
	switch n {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found)
	}
	return nil, fmt.Errorf("%w (%d records start with %s)", ErrMultipleRecords, n, recordVersion)
}

// ParseRecord parses the text of a TLS-RPT TXT record by the ABNF of
// RFC 8460 §3: "v=TLSRPTv1" first (case-sensitive), then fields separated
// by ";" with optional white space around it, an optional final ";". The
// rua field is required; its URIs are separated by "," with optional white
// space. When rua appears more than once, the URIs are merged. Other fields
// are kept as Extensions.
//
// A URI must be an RFC 3986 URI in which "!", "," and ";" are
// percent-encoded (§3); mailto: URIs must hold valid addresses, https: URIs
// a host. Any other problem is a *RecordError matching ErrInvalidRecord.
func ParseRecord(txt string) (*Record, error) {
	if !strings.HasPrefix(txt, recordVersion) {
		return nil, &RecordError{Record: txt, Line: 1, Column: 1, Msg: "does not start with " + recordVersion}
	}
	// A record with up to two URIs takes one allocation.
	a := new(recordAlloc)
	rua := a.ptrs[:0]
	i := len(recordVersion)
	for {
		j := skipWSP(txt, i)
		if j == len(txt) {
			if j != i {
				return nil, recordErr(txt, i, "white space after the last field")
			}
			break
		}
		if txt[j] != ';' {
			return nil, recordErr(txt, j, fmt.Sprintf("unexpected %q; fields are separated by \";\"", txt[j]))
		}
		i = skipWSP(txt, j+1)
		if i == len(txt) {
			break // a final field delimiter
		}
		var err error
		if strings.HasPrefix(txt[i:], "rua=") {
			i, rua, err = parseRUA(txt, i+len("rua="), rua, a)
		} else {
			i, err = parseExtension(txt, i, &a.rec)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(rua) == 0 {
		return nil, recordErr(txt, len(txt), "no rua field")
	}
	a.rec.RUA = rua
	return &a.rec, nil
}

// recordAlloc holds a Record and its first URLs in one allocation.
type recordAlloc struct {
	rec  Record
	ptrs [2]*url.URL
	urls [2]url.URL
}

func recordErr(txt string, at int, msg string) error {
	return &RecordError{Record: txt, Line: 1, Column: at + 1, Msg: msg}
}

func skipWSP(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// parseRUA parses the URIs of a rua field starting at txt[i] and returns
// the position after the last URI.
func parseRUA(txt string, i int, rua []*url.URL, a *recordAlloc) (int, []*url.URL, error) {
	for {
		var u *url.URL
		if n := len(rua); n < len(a.urls) {
			u = &a.urls[n]
		} else {
			u = new(url.URL)
		}
		end, at, msg := parseReportURI(txt, i, u)
		if msg != "" {
			return 0, nil, recordErr(txt, at, msg)
		}
		rua = append(rua, u)
		j := skipWSP(txt, end)
		if j == len(txt) || txt[j] != ',' {
			return end, rua, nil
		}
		i = skipWSP(txt, j+1)
	}
}

// parseExtension parses a tlsrpt-extension field starting at txt[i].
func parseExtension(txt string, i int, rec *Record) (int, error) {
	start := i
	for i < len(txt) && (isAlnum(txt[i]) || i > start && (txt[i] == '_' || txt[i] == '-' || txt[i] == '.')) {
		i++
	}
	switch {
	case i == start:
		return 0, recordErr(txt, i, fmt.Sprintf("a field name must start with a letter or digit, not %q", txt[i]))
	case i-start > 32:
		return 0, recordErr(txt, start, "field name longer than 32 characters")
	case i == len(txt) || txt[i] != '=':
		return 0, recordErr(txt, i, fmt.Sprintf("field %s without \"=\"", escape.Quote(txt[start:i])))
	}
	name := txt[start:i]
	i++
	vstart := i
	for i < len(txt) && txt[i] >= 0x21 && txt[i] <= 0x7e && txt[i] != ';' && txt[i] != '=' {
		i++
	}
	if i < len(txt) && txt[i] != ';' && txt[i] != ' ' && txt[i] != '\t' {
		return 0, recordErr(txt, i, invalidChar(txt, i)+fmt.Sprintf(" in the value of field %s", escape.Quote(name)))
	}
	if i == vstart {
		return 0, recordErr(txt, i, fmt.Sprintf("field %s has an empty value", escape.Quote(name)))
	}
	rec.Extensions = append(rec.Extensions, Extension{Name: name, Value: txt[vstart:i]})
	return i, nil
}

// String returns the record in the form of RFC 8460 §3: v, one rua field
// with every URI, then the extensions, separated by "; ". A Record without
// RUA gives text that ParseRecord rejects.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString(recordVersion)
	b.WriteString("; rua=")
	for i, u := range r.RUA {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(u.String())
	}
	for _, e := range r.Extensions {
		b.WriteString("; ")
		b.WriteString(e.Name)
		b.WriteByte('=')
		b.WriteString(e.Value)
	}
	return b.String()
}

// Destinations returns the rua URIs a reporter can deliver to, in order:
// those with the schemes RFC 8460 §3 defines, mailto: (§5.3, email) and
// https: (§5.4, HTTP POST). The others are skipped. A reporter delivers
// each report to every one of them, not only until one accepts: §3 lets a
// domain list several URIs as DMARC does, and DMARC (RFC 7489 §6.2) sends
// a report to each listed URI. Sender.Send does so, retrying each
// destination on its own (§5.5).
func (r *Record) Destinations() []*url.URL {
	var out []*url.URL
	for _, u := range r.RUA {
		if u.Scheme == "mailto" || u.Scheme == "https" {
			out = append(out, u)
		}
	}
	return out
}
