package tlsrpt

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the report decoder: a one-pass scanner over the JSON text
// specialised for the RFC 8460 §4.4 schema. Strings without escapes are
// substrings of the text (no copy); unknown members are checked for syntax
// and skipped; the tolerated deviations of real senders are recorded as
// notes, which Validate reports.

// A SyntaxError reports JSON that is malformed or that does not fit the
// RFC 8460 §4.4 report schema (a value of the wrong type, such as an object
// for "policies" or a string for a count). It matches ErrInvalidReport.
type SyntaxError struct {
	Msg    string // what is wrong
	Path   string // JSON path of the member, such as "policies[0].summary"; empty for pure JSON syntax errors
	Offset int64  // byte offset in the JSON text where the error was found
	Line   int    // 1-based line of Offset
	Column int    // 1-based column of Offset, in bytes
}

func (e *SyntaxError) Error() string {
	where := fmt.Sprintf("line %d, column %d", e.Line, e.Column)
	if e.Path != "" {
		return "tlsrpt: invalid report: " + where + ": " + e.Path + ": " + e.Msg
	}
	return "tlsrpt: invalid report: " + where + ": " + e.Msg
}

// Is makes a SyntaxError match ErrInvalidReport.
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalidReport }

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// Contexts of the decoder, used to build JSON paths for notes and errors.
const (
	inReport = iota
	inDateRange
	inPolicyResult
	inPolicy
	inSummary
	inDetail
)

type decoder struct {
	s     string
	i     int
	depth int
	notes []Problem

	ctx int // one of the in* contexts
	pol int // index in policies
	fd  int // index in failure-details

	strs []string        // scratch for string arrays
	fds  []FailureDetail // scratch for failure details
}

// decodeReport decodes the JSON text s into r, which must be zero.
func decodeReport(s string, r *Report) error {
	d := decoder{s: s}
	d.ws()
	if err := d.report(r); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.s) {
		return d.syntaxErr(fmt.Sprintf("invalid character %s after top-level value", quoteChar(d.s[d.i])))
	}
	r.notes = d.notes
	return nil
}

// path returns the JSON path of member name in the current context.
func (d *decoder) path(name string) string {
	var p string
	switch d.ctx {
	case inReport:
		return name
	case inDateRange:
		p = "date-range"
	case inPolicyResult:
		p = fmt.Sprintf("policies[%d]", d.pol)
	case inPolicy:
		p = fmt.Sprintf("policies[%d].policy", d.pol)
	case inSummary:
		p = fmt.Sprintf("policies[%d].summary", d.pol)
	case inDetail:
		p = fmt.Sprintf("policies[%d].failure-details[%d]", d.pol, d.fd)
	}
	if name == "" {
		return p
	}
	return p + "." + name
}

func (d *decoder) note(name, msg string) {
	d.notes = append(d.notes, Problem{Path: d.path(name), Message: msg})
}

func (d *decoder) errAt(off int, path, msg string) error {
	line := 1 + strings.Count(d.s[:off], "\n")
	col := off + 1
	if nl := strings.LastIndexByte(d.s[:off], '\n'); nl >= 0 {
		col = off - nl
	}
	return &SyntaxError{Msg: msg, Path: path, Offset: int64(off), Line: line, Column: col}
}

func (d *decoder) syntaxErr(msg string) error { return d.errAt(d.i, "", msg) }

// typeErr reports a value of the wrong type for member name at the current
// position.
func (d *decoder) typeErr(name, want string) error {
	return d.errAt(d.i, d.path(name), fmt.Sprintf("expected %s, found %s", want, d.kind()))
}

// kind names the JSON value at the current position.
func (d *decoder) kind() string {
	if d.i >= len(d.s) {
		return "end of input"
	}
	switch c := d.s[d.i]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	default:
		return "invalid character " + quoteChar(c)
	}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(rune(c))
}

func (d *decoder) eof() error { return d.syntaxErr("unexpected end of JSON input") }

// ws skips JSON white space.
func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\n', '\r', '\t':
			d.i++
		default:
			return
		}
	}
}

// beginObject consumes '{' after checking the value is an object; null
// (absent) returns ok false.
func (d *decoder) beginObject(name string) (ok bool, err error) {
	if d.i >= len(d.s) {
		return false, d.eof()
	}
	switch d.s[d.i] {
	case '{':
		d.depth++
		if d.depth > maxDepth {
			return false, d.syntaxErr("exceeded max depth")
		}
		d.i++
		return true, nil
	case 'n':
		return false, d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return false, err
	}
	return false, d.typeErr(name, "an object")
}

// beginArray is beginObject for arrays.
func (d *decoder) beginArray(name string) (ok bool, err error) {
	if d.i >= len(d.s) {
		return false, d.eof()
	}
	switch d.s[d.i] {
	case '[':
		d.depth++
		if d.depth > maxDepth {
			return false, d.syntaxErr("exceeded max depth")
		}
		d.i++
		return true, nil
	case 'n':
		return false, d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return false, err
	}
	return false, d.typeErr(name, "an array")
}

// checkValue makes sure the value at the current position is valid JSON,
// so that a type error is not reported for input that is not JSON at all.
func (d *decoder) checkValue() error {
	i := d.i
	if err := d.skipValue(); err != nil {
		return err
	}
	d.i = i
	return nil
}

// member advances to the next member of an object: it returns its name,
// with the position at its value, or ok false after the closing brace.
func (d *decoder) member(first bool) (name string, ok bool, err error) {
	d.ws()
	if d.i >= len(d.s) {
		return "", false, d.eof()
	}
	c := d.s[d.i]
	if c == '}' {
		d.i++
		d.depth--
		return "", false, nil
	}
	if !first {
		if c != ',' {
			return "", false, d.syntaxErr("invalid character " + quoteChar(c) + " after object key:value pair")
		}
		d.i++
		d.ws()
		if d.i >= len(d.s) {
			return "", false, d.eof()
		}
		c = d.s[d.i]
	}
	if c != '"' {
		if c == '}' {
			return "", false, d.syntaxErr("invalid character '}' looking for beginning of object key string")
		}
		return "", false, d.syntaxErr("invalid character " + quoteChar(c) + " looking for beginning of object key string")
	}
	name, err = d.str()
	if err != nil {
		return "", false, err
	}
	d.ws()
	if d.i >= len(d.s) {
		return "", false, d.eof()
	}
	if d.s[d.i] != ':' {
		return "", false, d.syntaxErr("invalid character " + quoteChar(d.s[d.i]) + " after object key")
	}
	d.i++
	d.ws()
	if d.i >= len(d.s) {
		return "", false, d.eof()
	}
	return name, true, nil
}

// element advances to the next element of an array, or returns ok false
// after the closing bracket.
func (d *decoder) element(first bool) (ok bool, err error) {
	d.ws()
	if d.i >= len(d.s) {
		return false, d.eof()
	}
	c := d.s[d.i]
	if c == ']' {
		d.i++
		d.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, d.syntaxErr("invalid character " + quoteChar(c) + " after array element")
		}
		d.i++
		d.ws()
		if d.i >= len(d.s) {
			return false, d.eof()
		}
		if d.s[d.i] == ']' {
			return false, d.syntaxErr("invalid character ']' looking for beginning of value")
		}
	}
	return true, nil
}

func (d *decoder) literal(lit string) error {
	if strings.HasPrefix(d.s[d.i:], lit) {
		d.i += len(lit)
		return nil
	}
	// Find the first byte that differs, as encoding/json reports it.
	j := 0
	for d.i+j < len(d.s) && j < len(lit) && d.s[d.i+j] == lit[j] {
		j++
	}
	if d.i+j >= len(d.s) {
		d.i += j
		return d.eof()
	}
	d.i += j
	return d.syntaxErr("invalid character " + quoteChar(d.s[d.i]) + " in literal " + lit + " (expecting " + quoteChar(lit[j]) + ")")
}

// str reads a string at the current position (which holds '"'). Without
// escapes or invalid UTF-8 it is a substring of the text.
func (d *decoder) str() (string, error) {
	s := d.s
	start := d.i + 1
	for j := start; j < len(s); j++ {
		c := s[j]
		if c == '"' {
			d.i = j + 1
			return s[start:j], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.strSlow(start, j)
		}
	}
	d.i = len(s)
	return "", d.eof()
}

// strSlow continues str at s[j], which is an escape, a control character or
// a non-ASCII byte. Invalid UTF-8 and unpaired surrogates become U+FFFD, as
// in encoding/json.
func (d *decoder) strSlow(start, j int) (string, error) {
	s := d.s
	var buf []byte
	seg := start // start of the bytes not yet copied to buf
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			d.i = j + 1
			if buf == nil {
				return s[start:j], nil
			}
			buf = append(buf, s[seg:j]...)
			return string(buf), nil
		case c == '\\':
			if buf == nil {
				buf = make([]byte, 0, j-start+16)
			}
			buf = append(buf, s[seg:j]...)
			if j+1 >= len(s) {
				d.i = len(s)
				return "", d.eof()
			}
			switch e := s[j+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				j += 2
			case 'b':
				buf = append(buf, '\b')
				j += 2
			case 'f':
				buf = append(buf, '\f')
				j += 2
			case 'n':
				buf = append(buf, '\n')
				j += 2
			case 'r':
				buf = append(buf, '\r')
				j += 2
			case 't':
				buf = append(buf, '\t')
				j += 2
			case 'u':
				r, ok := hex4(s, j+2)
				if !ok {
					return "", d.badHex(j + 2)
				}
				j += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if j+1 < len(s) && s[j] == '\\' && s[j+1] == 'u' {
						r2, ok2 = hex4(s, j+2)
						if !ok2 {
							return "", d.badHex(j + 2)
						}
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						j += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = j + 1
				return "", d.syntaxErr("invalid character " + quoteChar(e) + " in string escape code")
			}
			seg = j
		case c < 0x20:
			d.i = j
			return "", d.syntaxErr("invalid character " + quoteChar(c) + " in string literal")
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				if buf == nil {
					buf = make([]byte, 0, j-start+16)
				}
				buf = append(buf, s[seg:j]...)
				buf = utf8.AppendRune(buf, utf8.RuneError)
				j++
				seg = j
				continue
			}
			j += size
		}
	}
	d.i = len(s)
	return "", d.eof()
}

func (d *decoder) badHex(at int) error {
	for k := at; k < at+4; k++ {
		if k >= len(d.s) {
			d.i = len(d.s)
			return d.eof()
		}
		if _, ok := unhex(d.s[k]); !ok {
			d.i = k
			return d.syntaxErr("invalid character " + quoteChar(d.s[k]) + " in \\u hexadecimal character escape")
		}
	}
	d.i = at
	return d.syntaxErr("invalid \\u escape")
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for k := at; k < at+4; k++ {
		v, ok := unhex(s[k])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// number scans a JSON number and returns its end and whether it is an
// integer (no fraction or exponent).
func (d *decoder) number() (end int, integer bool, err error) {
	s := d.s
	j := d.i
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j >= len(s):
		d.i = j
		return 0, false, d.eof()
	case s[j] == '0':
		j++
	case s[j] >= '1' && s[j] <= '9':
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	default:
		d.i = j
		return 0, false, d.syntaxErr("invalid character " + quoteChar(s[j]) + " in numeric literal")
	}
	integer = true
	if j < len(s) && s[j] == '.' {
		integer = false
		j++
		if j >= len(s) {
			d.i = j
			return 0, false, d.eof()
		}
		if s[j] < '0' || s[j] > '9' {
			d.i = j
			return 0, false, d.syntaxErr("invalid character " + quoteChar(s[j]) + " after decimal point in numeric literal")
		}
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		integer = false
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j >= len(s) {
			d.i = j
			return 0, false, d.eof()
		}
		if s[j] < '0' || s[j] > '9' {
			d.i = j
			return 0, false, d.syntaxErr("invalid character " + quoteChar(s[j]) + " in exponent of numeric literal")
		}
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	return j, integer, nil
}

// count reads a session count: a JSON integer that fits in int64. It
// returns ok false for null.
func (d *decoder) count(name string) (n int64, ok bool, err error) {
	c := d.s[d.i]
	if c == 'n' {
		return 0, false, d.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		if err := d.checkValue(); err != nil {
			return 0, false, err
		}
		return 0, false, d.typeErr(name, "an integer")
	}
	start := d.i
	end, integer, err := d.number()
	if err != nil {
		return 0, false, err
	}
	if !integer {
		return 0, false, d.errAt(start, d.path(name), "expected an integer, found "+d.s[start:end])
	}
	// Fast path for up to 18 digits, which cannot overflow.
	digits := d.s[start:end]
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) <= 18 {
		for k := 0; k < len(digits); k++ {
			n = n*10 + int64(digits[k]-'0')
		}
		if neg {
			n = -n
		}
	} else {
		n, err = strconv.ParseInt(d.s[start:end], 10, 64)
		if err != nil {
			return 0, false, d.errAt(start, d.path(name), "integer out of range: "+d.s[start:end])
		}
	}
	d.i = end
	return n, true, nil
}

// stringValue reads a string member; null leaves dst unchanged.
func (d *decoder) stringValue(name string, dst *string) error {
	switch d.s[d.i] {
	case '"':
		v, err := d.str()
		*dst = v
		return err
	case 'n':
		return d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return err
	}
	return d.typeErr(name, "a string")
}

// stringArray reads an array of strings. A single string is accepted as an
// array of one (a tolerated deviation, noted); null and [] give nil.
func (d *decoder) stringArray(name string) ([]string, error) {
	if d.s[d.i] == '"' {
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		d.note(name, "a string, not an array of strings; read as an array of one")
		return []string{v}, nil
	}
	ok, err := d.beginArray(name)
	if !ok || err != nil {
		return nil, err
	}
	d.strs = d.strs[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if d.s[d.i] != '"' {
			if err := d.checkValue(); err != nil {
				return nil, err
			}
			return nil, d.typeErr(name, "a string")
		}
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		d.strs = append(d.strs, v)
	}
	if len(d.strs) == 0 {
		return nil, nil
	}
	return slices.Clone(d.strs), nil
}

// ip reads an IP address member. The empty string and strings that are not
// IP addresses are noted and leave the address zero.
func (d *decoder) ip(name string, dst *netip.Addr) error {
	if d.s[d.i] != '"' {
		var v string
		return d.stringValue(name, &v) // null, or a type error
	}
	v, err := d.str()
	if err != nil {
		return err
	}
	if v == "" {
		d.note(name, "empty string, not an IP address")
		return nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		d.note(name, fmt.Sprintf("not an IP address: %q", v))
		return nil
	}
	*dst = a
	return nil
}

// dateTime reads an RFC 3339 date-time member, converted to UTC. A
// date-time without a time zone is read as UTC and noted; an offset other
// than zero is converted and noted.
func (d *decoder) dateTime(name string, dst *time.Time) error {
	if d.s[d.i] != '"' {
		var v string
		return d.stringValue(name, &v) // null, or a type error
	}
	start := d.i
	v, err := d.str()
	if err != nil {
		return err
	}
	t, zone, ok := parseDateTime(v)
	if !ok {
		return d.errAt(start, d.path(name), fmt.Sprintf("not an RFC 3339 date-time: %q", v))
	}
	switch zone {
	case zoneNone:
		d.note(name, fmt.Sprintf("date-time %q has no time zone; read as UTC", v))
	case zoneOffset:
		d.note(name, fmt.Sprintf("date-time %q is not in UTC", v))
	}
	*dst = t
	return nil
}

// skipValue checks and skips any JSON value.
func (d *decoder) skipValue() error {
	if d.i >= len(d.s) {
		return d.eof()
	}
	switch c := d.s[d.i]; {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		d.depth++
		if d.depth > maxDepth {
			return d.syntaxErr("exceeded max depth")
		}
		d.i++
		for first := true; ; first = false {
			_, more, err := d.member(first)
			if err != nil || !more {
				return err
			}
			if err := d.skipValue(); err != nil {
				return err
			}
		}
	case c == '[':
		d.depth++
		if d.depth > maxDepth {
			return d.syntaxErr("exceeded max depth")
		}
		d.i++
		for first := true; ; first = false {
			more, err := d.element(first)
			if err != nil || !more {
				return err
			}
			if err := d.skipValue(); err != nil {
				return err
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		end, _, err := d.number()
		if err != nil {
			return err
		}
		d.i = end
		return nil
	default:
		return d.syntaxErr("invalid character " + quoteChar(c) + " looking for beginning of value")
	}
}

// Bits of the members seen in an object, for required members whose
// absence a zero value does not show.
const (
	seenPolicies = 1 << iota
	seenSuccess
	seenFailure
	seenSummary
	seenCount
)

func (d *decoder) report(r *Report) error {
	if d.i < len(d.s) && d.s[d.i] != '{' {
		if err := d.checkValue(); err != nil {
			return err
		}
		return d.syntaxErr("a report must be a JSON object, found " + d.kind())
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch name {
		case "organization-name":
			err = d.stringValue(name, &r.OrganizationName)
		case "contact-info":
			err = d.stringValue(name, &r.ContactInfo)
		case "report-id":
			err = d.stringValue(name, &r.ReportID)
		case "date-range":
			err = d.dateRange(&r.DateRange)
		case "policies":
			if d.s[d.i] != 'n' {
				seen |= seenPolicies
			}
			err = d.policies(r)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if seen&seenPolicies == 0 {
		d.note("policies", "missing")
	}
	return nil
}

func (d *decoder) dateRange(dr *DateRange) error {
	ok, err := d.beginObject("date-range")
	if !ok || err != nil {
		return err
	}
	d.ctx = inDateRange
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch name {
		case "start-datetime":
			err = d.dateTime(name, &dr.Start)
		case "end-datetime":
			err = d.dateTime(name, &dr.End)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	d.ctx = inReport
	return nil
}

func (d *decoder) policies(r *Report) error {
	ok, err := d.beginArray("policies")
	if !ok || err != nil {
		return err
	}
	r.Policies = r.Policies[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		r.Policies = append(r.Policies, PolicyResult{})
		d.pol = len(r.Policies) - 1
		d.ctx = inPolicyResult
		if err := d.policyResult(&r.Policies[d.pol]); err != nil {
			return err
		}
		d.ctx = inReport
	}
	if len(r.Policies) == 0 {
		r.Policies = nil
	}
	return nil
}

func (d *decoder) policyResult(pr *PolicyResult) error {
	if d.s[d.i] == 'n' {
		return d.typeErr("", "an object")
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch name {
		case "policy":
			err = d.policy(&pr.Policy)
		case "summary":
			if d.s[d.i] != 'n' {
				seen |= seenSummary
			}
			err = d.summary(&pr.Summary)
		case "failure-details":
			err = d.failureDetails(pr)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if seen&seenSummary == 0 {
		d.note("summary", "missing")
	}
	return nil
}

func (d *decoder) policy(p *Policy) error {
	ok, err := d.beginObject("policy")
	if !ok || err != nil {
		return err
	}
	d.ctx = inPolicy
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch name {
		case "policy-type":
			var v string
			err = d.stringValue(name, &v)
			p.Type = PolicyType(v)
		case "policy-string":
			p.String, err = d.stringArray(name)
		case "policy-domain":
			err = d.stringValue(name, &p.Domain)
		case "mx-host":
			p.MXHost, err = d.stringArray(name)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	d.ctx = inPolicyResult
	return nil
}

func (d *decoder) summary(s *Summary) error {
	ok, err := d.beginObject("summary")
	if !ok || err != nil {
		return err
	}
	d.ctx = inSummary
	var seen int
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		var got bool
		switch name {
		case "total-successful-session-count":
			s.TotalSuccessfulSessionCount, got, err = d.countInto(name, s.TotalSuccessfulSessionCount)
			if got {
				seen |= seenSuccess
			}
		case "total-failure-session-count":
			s.TotalFailureSessionCount, got, err = d.countInto(name, s.TotalFailureSessionCount)
			if got {
				seen |= seenFailure
			}
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if seen&seenSuccess == 0 {
		d.note("total-successful-session-count", "missing")
	}
	if seen&seenFailure == 0 {
		d.note("total-failure-session-count", "missing")
	}
	d.ctx = inPolicyResult
	return nil
}

// countInto reads a count; null keeps old.
func (d *decoder) countInto(name string, old int64) (int64, bool, error) {
	n, ok, err := d.count(name)
	if !ok {
		return old, false, err
	}
	return n, true, err
}

func (d *decoder) failureDetails(pr *PolicyResult) error {
	ok, err := d.beginArray("failure-details")
	if !ok || err != nil {
		if err == nil {
			pr.FailureDetails = nil
		}
		return err
	}
	d.fds = d.fds[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		d.fds = append(d.fds, FailureDetail{})
		d.fd = len(d.fds) - 1
		d.ctx = inDetail
		if err := d.failureDetail(&d.fds[d.fd]); err != nil {
			return err
		}
		d.ctx = inPolicyResult
	}
	if len(d.fds) == 0 {
		pr.FailureDetails = nil
	} else {
		pr.FailureDetails = slices.Clone(d.fds)
	}
	return nil
}

func (d *decoder) failureDetail(f *FailureDetail) error {
	if d.s[d.i] == 'n' {
		return d.typeErr("", "an object")
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	for first := true; ; first = false {
		name, more, err := d.member(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch name {
		case "result-type":
			var v string
			err = d.stringValue(name, &v)
			f.ResultType = ResultType(v)
		case "sending-mta-ip":
			err = d.ip(name, &f.SendingMTAIP)
		case "receiving-mx-hostname":
			err = d.stringValue(name, &f.ReceivingMXHostname)
		case "receiving-mx-helo":
			err = d.stringValue(name, &f.ReceivingMXHelo)
		case "receiving-ip":
			err = d.ip(name, &f.ReceivingIP)
		case "failed-session-count":
			var got bool
			f.FailedSessionCount, got, err = d.countInto(name, f.FailedSessionCount)
			if got {
				seen |= seenCount
			}
		case "additional-information":
			err = d.stringValue(name, &f.AdditionalInformation)
		case "failure-reason-code":
			err = d.stringValue(name, &f.FailureReasonCode)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if seen&seenCount == 0 {
		d.note("failed-session-count", "missing")
	}
	return nil
}

// How a date-time gave its time zone.
const (
	zoneUTC    = iota // Z, +00:00 or -00:00
	zoneOffset        // another offset
	zoneNone          // none: a real-world deviation, read as UTC
)

// parseDateTime parses an RFC 3339 date-time (§5.6; "T" and "Z" in either
// case), or the same without a time zone, and returns it in UTC.
func parseDateTime(s string) (t time.Time, zone int, ok bool) {
	// YYYY-MM-DDTHH:MM:SS
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			if j <= 9 {
				nsec = nsec*10 + int(rest[j]-'0')
			}
			j++
		}
		if j == 1 {
			return time.Time{}, 0, false
		}
		// Digits past nanoseconds are dropped, as time.Parse does.
		for k := j; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[j:]
	}
	var offset int
	switch {
	case rest == "":
		zone = zoneNone
	case rest == "Z" || rest == "z":
		zone = zoneUTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
		if offset != 0 {
			zone = zoneOffset
		}
	default:
		return time.Time{}, 0, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, zone, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// UnmarshalJSON decodes a report like ParseReport, without size limits
// (the caller has the bytes already) and without gzip. It replaces the
// whole of *r. The JSON literal null leaves r unchanged, as encoding/json
// expects of unmarshalers.
func (r *Report) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var rep Report
	if err := decodeReport(string(data), &rep); err != nil {
		return err
	}
	*r = rep
	return nil
}
