package mtasts

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smtpsec/smtpsec/internal/escape"
)

const recordVersion = "v=STSv1"

// ParseRecord parses the text of one MTA-STS TXT record (RFC 8461 §3.1),
// such as "v=STSv1; id=20160831085700Z;". A record published as several
// character-strings must be joined without separators first, as
// net.Resolver.LookupTXT does.
//
// The grammar is applied strictly: "v=STSv1" (case-sensitive) comes first;
// fields are separated by ";" with optional spaces or tabs around it, and a
// final ";" is allowed; "id" holds 1 to 32 ASCII letters and digits and is
// required; other fields are extensions "name=value", where the name is a
// letter or digit followed by up to 31 letters, digits, "_", "-" or ".", and
// the value is printable US-ASCII without "=", ";" or space. When "id"
// appears more than once, the first counts, but every one must be valid.
// Extensions are kept in order.
//
// The returned record's strings share memory with txt. Errors are
// *SyntaxError values that match ErrInvalidRecord.
func ParseRecord(txt string) (*Record, error) {
	if !strings.HasPrefix(txt, recordVersion) {
		return nil, recordError(txt, 0, "record does not begin with v=STSv1", "")
	}
	var r *Record
	i := len(recordVersion)
	for {
		// sts-field-delim = *WSP ";" *WSP, or the end of the record.
		j := skipWSP(txt, i)
		if j == len(txt) {
			if j > i {
				return nil, recordError(txt, i, "whitespace at the end of the record", `remove it or end the record with ";"`)
			}
			break
		}
		if txt[j] != ';' {
			if i == len(recordVersion) && j == i {
				return nil, recordError(txt, j, "v=STSv1 must be followed by \";\"", "")
			}
			return nil, recordError(txt, j, fmt.Sprintf("unexpected %s; fields are separated by \";\"", describeChar(txt, j)), "")
		}
		i = skipWSP(txt, j+1)
		if i == len(txt) {
			break // trailing delimiter
		}
		// sts-field = sts-id / sts-extension
		start := i
		for i < len(txt) && isExtNameChar(txt[i]) {
			i++
		}
		name := txt[start:i]
		if name == "" || i == len(txt) || txt[i] != '=' {
			if name == "" {
				return nil, recordError(txt, i, fmt.Sprintf("unexpected %s; expected a field name", describeChar(txt, i)), "")
			}
			return nil, recordError(txt, i, fmt.Sprintf("field %s has no \"=\"", escape.Quote(name)), "")
		}
		if !isAlnum(name[0]) {
			return nil, recordError(txt, start, "a field name must begin with a letter or digit", "")
		}
		if len(name) > 32 {
			return nil, recordError(txt, start, fmt.Sprintf("field name %s is longer than 32 characters", escape.Quote(name)), "")
		}
		i++
		vstart := i
		var classes uint8 = classAlnum
		for i < len(txt) {
			k := charClass[txt[i]]
			if k&classRecValue == 0 {
				break
			}
			classes &= k
			i++
		}
		value := txt[vstart:i]
		if i < len(txt) && txt[i] != ';' && txt[i] != ' ' && txt[i] != '\t' {
			return nil, recordError(txt, i, fmt.Sprintf("%s is not allowed in a value", describeChar(txt, i)), "")
		}
		if value == "" {
			return nil, recordError(txt, vstart, fmt.Sprintf("field %s has an empty value", escape.Quote(name)), "")
		}
		if name == "id" {
			if len(value) > 32 {
				return nil, recordError(txt, vstart, fmt.Sprintf("id is %d characters long; at most 32 are allowed", len(value)), "")
			}
			for k := 0; classes&classAlnum == 0 && k < len(value); k++ {
				if !isAlnum(value[k]) {
					return nil, recordError(txt, vstart+k, fmt.Sprintf("id may contain only letters and digits, not %s", describeChar(txt, vstart+k)), "")
				}
			}
			if r == nil {
				r = &Record{ID: value}
			} else if r.ID == "" {
				r.ID = value
			}
			continue
		}
		if r == nil {
			r = &Record{}
		}
		r.Extensions = append(r.Extensions, Extension{Name: name, Value: value})
	}
	if r == nil || r.ID == "" {
		if r == nil && i == len(recordVersion) {
			return nil, recordError(txt, i, "v=STSv1 must be followed by \";\" and an id field", "")
		}
		return nil, recordError(txt, len(txt), "the required id field is missing", "add id=<1 to 32 letters and digits>")
	}
	return r, nil
}

// String returns the record in its published form: "v=STSv1; id=<ID>",
// followed by "; name=value" for each extension.
func (r *Record) String() string {
	n := len(recordVersion) + len("; id=") + len(r.ID)
	for _, e := range r.Extensions {
		n += 3 + len(e.Name) + len(e.Value)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(recordVersion)
	b.WriteString("; id=")
	b.WriteString(r.ID)
	for _, e := range r.Extensions {
		b.WriteString("; ")
		b.WriteString(e.Name)
		b.WriteByte('=')
		b.WriteString(e.Value)
	}
	return b.String()
}

// SelectRecord applies the rules of RFC 8461 §3.1 to all TXT records found
// at _mta-sts.<policy-domain>, one string per record as returned by
// net.Resolver.LookupTXT: records that do not begin with "v=STSv1"
// followed by optional whitespace and ";" are discarded, and exactly one
// must remain. It returns the parsed record, or an error matching
// ErrNoRecord (none remains), ErrMultipleRecords (more than one remains) or
// ErrInvalidRecord (the one that remains is malformed). In each error case
// the domain has no available policy; a sender still applies a policy it
// has cached (§5.1).
func SelectRecord(txts []string) (*Record, error) {
	n := 0
	var found string
	for _, t := range txts {
		if isSTSRecord(t) {
			n++
			found = t
		}
	}
	switch n {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found)
	default:
		return nil, fmt.Errorf("%w (%d found)", ErrMultipleRecords, n)
	}
}

// isSTSRecord reports whether txt begins with "v=STSv1" *WSP ";": the
// prefix by which §3.1 tells MTA-STS records from other TXT records. The
// text says "v=STSv1;", the ABNF allows whitespace before the ";"; we
// follow the ABNF (see the package documentation).
func isSTSRecord(txt string) bool {
	if !strings.HasPrefix(txt, recordVersion) {
		return false
	}
	i := skipWSP(txt, len(recordVersion))
	return i < len(txt) && txt[i] == ';'
}

func recordError(txt string, off int, msg, fix string) error {
	return &SyntaxError{
		Err:    ErrInvalidRecord,
		Line:   1,
		Column: utf8.RuneCountInString(txt[:off]) + 1,
		Msg:    msg,
		Fix:    fix,
	}
}

// describeChar names the character at s[i] for an error message.
func describeChar(s string, i int) string {
	if i >= len(s) {
		return "end of text"
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == ' ':
		return "space"
	case r == '\t':
		return "tab"
	case r == '\r':
		return "carriage return (CR) not followed by a line feed (LF)"
	case r == utf8.RuneError:
		return fmt.Sprintf("byte 0x%02X (not UTF-8)", s[i])
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf("control character U+%04X", r)
	case r >= 0x80:
		return fmt.Sprintf("non-ASCII character %q", string(r))
	}
	return fmt.Sprintf("%q", string(r))
}

func skipWSP(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
