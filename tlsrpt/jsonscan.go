package tlsrpt

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// This file holds the JSON scanner under the report decoder: white space,
// object members, array elements, strings, numbers and literals of RFC 8259,
// checked as strictly as encoding/json checks them, with errors that say
// where.

// A SyntaxError reports JSON that is malformed or that does not fit the
// RFC 8460 §4.4 report schema (a value of the wrong type, such as an object
// for "policies" or a string for a count; a count that is negative or past
// int64). It matches ErrInvalidReport.
//
// Its message quotes at most a short escaped prefix of the offending value
// (escape.MaxQuoted bytes, 64), so that an error about megabytes of input
// is a line, safe to log and to send back.
type SyntaxError struct {
	Msg    string // what is wrong, quoting at most 64 bytes of the input
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

func (d *decoder) errAt(off int, path, msg string) error {
	line := 1 + strings.Count(d.s[:off], "\n")
	col := off + 1
	if nl := strings.LastIndexByte(d.s[:off], '\n'); nl >= 0 {
		col = off - nl
	}
	return &SyntaxError{Msg: msg, Path: path, Offset: int64(off), Line: line, Column: col}
}

func (d *decoder) syntaxErr(msg string) error { return d.errAt(d.i, "", msg) }

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
// Without needName the name is checked but not returned, so that skipping
// an object allocates nothing.
func (d *decoder) member(first, needName bool) (name string, ok bool, err error) {
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
	if needName {
		name, err = d.str()
	} else {
		err = d.skipString()
	}
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
func (d *decoder) str() (string, error) { return d.scanString(true) }

// skipString checks the string at the current position like str, without
// keeping it: nothing is allocated.
func (d *decoder) skipString() error {
	_, err := d.scanString(false)
	return err
}

// scanString is str, which decodes the string only if keep.
func (d *decoder) scanString(keep bool) (string, error) {
	s := d.s
	start := d.i + 1
	j := start
	// Eight bytes at a time while none is special.
	for j+8 <= len(s) && !hasStringSpecial(load64(s, j)) {
		j += 8
	}
	for ; j < len(s); j++ {
		c := s[j]
		if c == '"' {
			d.i = j + 1
			return s[start:j], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.strSlow(start, j, keep)
		}
	}
	d.i = len(s)
	return "", d.eof()
}

// load64 returns the eight bytes at s[i:] as a little-endian word.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasStringSpecial reports whether any byte of w ends the fast path of a
// JSON string: '"', '\\', a control character or a non-ASCII byte. It uses
// the "has a zero byte" and "has a byte less than n" word tricks.
func hasStringSpecial(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (lsb * '"')
	backslash := w ^ (lsb * '\\')
	return ((w-lsb*0x20)&^w|(quote-lsb)&^quote|(backslash-lsb)&^backslash|w)&msb != 0
}

// strSlow continues str at s[j], which is an escape, a control character or
// a non-ASCII byte. Invalid UTF-8 and unpaired surrogates become U+FFFD, as
// in encoding/json. Without keep the string is only checked.
//
// The decoded string is written to a strings.Builder sized once by
// decodedSize (at most the JSON bytes, three times those that are invalid
// UTF-8), and String does not copy it.
func (d *decoder) strSlow(start, j int, keep bool) (string, error) {
	s := d.s
	var buf strings.Builder
	copied := false // whether buf holds the string so far
	seg := start    // start of the bytes not yet copied to buf
	begin := func() {
		if !copied && keep {
			buf.Grow(j - start + d.decodedSize(j))
		}
		copied = true
	}
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			d.i = j + 1
			if !copied || !keep {
				return s[start:j], nil
			}
			buf.WriteString(s[seg:j])
			return buf.String(), nil
		case c == '\\':
			begin()
			if keep {
				buf.WriteString(s[seg:j])
			}
			if j+1 >= len(s) {
				d.i = len(s)
				return "", d.eof()
			}
			switch e := s[j+1]; {
			case unescaped(e) != 0:
				if keep {
					buf.WriteByte(unescaped(e))
				}
				j += 2
			case e == 'u':
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
				if keep {
					buf.WriteRune(r)
				}
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
				begin()
				if keep {
					buf.WriteString(s[seg:j])
					buf.WriteRune(utf8.RuneError)
				}
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

// stringEnd returns the index of the '"' that ends the JSON string in
// which s[j] lies (a backslash escapes the byte after it), or len(s).
func (d *decoder) stringEnd(j int) int {
	s := d.s
	for j < len(s) {
		for j+8 <= len(s) && !hasStringSpecial(load64(s, j)) {
			j += 8
		}
		if j >= len(s) {
			break
		}
		switch s[j] {
		case '"':
			return j
		case '\\':
			j += 2
		default:
			j++
		}
	}
	return min(j, len(s))
}

// decodedSize returns an upper bound of the decoded length of the JSON
// string whose bytes from s[j] on are not yet decoded: plain bytes count
// one each, escapes what they stand for, and invalid UTF-8 three (U+FFFD).
// It stops at the closing '"' or at a byte str rejects.
func (d *decoder) decodedSize(j int) int {
	s := d.s
	n := 0
	for j < len(s) {
		k := j
		for k+8 <= len(s) && !hasStringSpecial(load64(s, k)) {
			k += 8
		}
		n += k - j
		j = k
		if j >= len(s) {
			break
		}
		switch c := s[j]; {
		case c == '"' || c < 0x20:
			return n
		case c == '\\':
			if j+1 < len(s) && s[j+1] == 'u' {
				r, ok := hex4(s, j+2)
				if !ok {
					return n
				}
				if utf16.IsSurrogate(r) {
					n += 3 // half a pair (4 bytes for both) or U+FFFD
				} else {
					n += utf8.RuneLen(r)
				}
				j += 6
			} else {
				n++
				j += 2
			}
		case c < utf8.RuneSelf:
			n++
			j++
		default:
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				n += 3
			} else {
				n += size
			}
			j += size
		}
	}
	return n
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

// count reads a session count: a JSON integer from 0 to the largest int64
// (RFC 8460 §4.4 counts sessions; a negative count would subtract from
// aggregates). It returns ok false for null.
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
	lit := d.s[start:end]
	if !integer {
		return 0, false, d.errAt(start, d.path(name), "expected an integer, found "+escape.Quote(lit))
	}
	digits := lit
	if digits[0] == '-' {
		digits = digits[1:]
		if digits != "0" {
			return 0, false, d.errAt(start, d.path(name), "negative count "+escape.Quote(lit))
		}
	}
	// Up to 18 digits cannot overflow; JSON has no leading zeros, so more
	// than 19 are out of range without parsing them.
	switch {
	case len(digits) <= 18:
		for k := 0; k < len(digits); k++ {
			n = n*10 + int64(digits[k]-'0')
		}
	case len(digits) == 19:
		n, err = strconv.ParseInt(digits, 10, 64)
	default:
		err = strconv.ErrRange
	}
	if err != nil {
		return 0, false, d.errAt(start, d.path(name), "count out of range (more than 9223372036854775807): "+escape.Quote(lit))
	}
	d.i = end
	return n, true, nil
}

// skipValue checks and skips any JSON value.
func (d *decoder) skipValue() error {
	if d.i >= len(d.s) {
		return d.eof()
	}
	switch c := d.s[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{':
		d.depth++
		if d.depth > maxDepth {
			return d.syntaxErr("exceeded max depth")
		}
		d.i++
		for first := true; ; first = false {
			_, more, err := d.member(first, false)
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

// unescaped returns the character that the two-character JSON escape
// sequence backslash-e stands for (RFC 8259 §7), or 0 when e begins no such
// sequence ("u" escapes are longer and handled apart).
func unescaped(e byte) byte {
	switch e {
	case '"', '\\', '/':
		return e
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return 0
}
