package mtasts

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smtpsec/smtpsec/internal/escape"
)

const (
	policyVersion = "STSv1"
	maxAgeLimit   = uint64(MaxMaxAge / time.Second)
	utf8BOM       = "\uFEFF"
)

// ParsePolicy parses an MTA-STS policy file (RFC 8461 §3.2) strictly by
// its grammar:
//
//   - Each line is "name:" followed by optional spaces or tabs and a value;
//     spaces and tabs at the end of a line are ignored, none are allowed
//     before the name or before the ":". Lines end with LF or CRLF; the
//     last line break is optional. Blank lines are not allowed.
//   - Names and values are case-sensitive. version ("STSv1"), mode
//     ("enforce", "testing" or "none") and max_age (1 to 10 digits) are
//     required. When one of them appears more than once the first counts,
//     but every occurrence must be valid.
//   - mx is required, at least once, unless mode is none. Each mx holds one
//     host name in A-labels, optionally starting with the wildcard label
//     "*."; it is stored in lower case, in order.
//   - A max_age above 31557600 seconds (MaxMaxAge) is clamped to it.
//   - Other fields are extensions: a name of a letter or digit followed by
//     up to 31 letters, digits, "_", "-" or ".", and a non-empty UTF-8
//     value without control characters. They are kept in order.
//
// Anything else makes the whole policy invalid: the error is a
// *SyntaxError that matches ErrInvalidPolicy and says at which line and
// column the problem is. DiagnosePolicy reads the same grammar but also
// accepts common harmless slips and reports every finding.
//
// The strings of the returned policy share memory with one copy of data.
func ParsePolicy(data []byte) (*Policy, error) {
	p := policyParser{s: string(data)}
	var buf [8]string
	mx := p.run(buf[:0])
	if p.err != nil {
		return nil, p.err
	}
	return p.result(mx), nil
}

// UnmarshalText parses text with ParsePolicy and sets *p to the result. It
// implements encoding.TextUnmarshaler.
func (p *Policy) UnmarshalText(text []byte) error {
	q, err := ParsePolicy(text)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// MarshalText returns the policy in canonical form: CRLF line endings;
// version, mode, each mx, max_age, then the extensions in order; mx
// patterns in lower case. It first calls Validate and returns its error, so
// that what it writes is a policy every sender accepts. It implements
// encoding.TextMarshaler.
func (p *Policy) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p.appendText(nil), nil
}

// String returns the policy in the canonical form of MarshalText, without
// validating it first.
func (p *Policy) String() string {
	return string(p.appendText(nil))
}

func (p *Policy) appendText(b []byte) []byte {
	n := len("version: STSv1\r\nmode: \r\nmax_age: 31557600\r\n") + len(p.Mode)
	for _, m := range p.MX {
		n += len("mx: \r\n") + len(m)
	}
	for _, e := range p.Extensions {
		n += len(e.Name) + len(e.Value) + 4
	}
	b = slices.Grow(b, n)
	b = append(b, "version: "+policyVersion+"\r\nmode: "...)
	b = append(b, p.Mode...)
	b = append(b, "\r\n"...)
	for _, m := range p.MX {
		b = append(b, "mx: "...)
		for i := 0; i < len(m); i++ {
			c := m[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		b = append(b, "\r\n"...)
	}
	b = append(b, "max_age: "...)
	b = strconv.AppendInt(b, int64(p.MaxAge/time.Second), 10)
	b = append(b, "\r\n"...)
	for _, e := range p.Extensions {
		b = append(b, e.Name...)
		b = append(b, ": "...)
		b = append(b, e.Value...)
		b = append(b, "\r\n"...)
	}
	return b
}

// policyParser is the one parser behind ParsePolicy (strict: stop at the
// first error) and DiagnosePolicy (diag: accept the slips listed there and
// collect every finding).
type policyParser struct {
	s    string
	diag bool

	pol   Policy
	err   *SyntaxError // first error
	diags []Diagnostic // diag mode only

	line      int // current line, 1-based
	lineStart int // offset of the current line in s
	lineEnd   int // offset of its end, before CR LF or LF
	mxValue   string
	gotMX     bool // the line was a valid mx field with value mxValue
	lastLine  int  // last line holding a field

	versionLine, modeLine, maxAgeLine, mxLine int
	modeValid                                 bool
	typos                                     []typo
}

// typo is an extension whose name looks like a misspelt standard field.
type typo struct {
	line, col int
	name      string
	field     string
	used      bool
}

func (p *policyParser) report(sev Severity, line, col int, msg, fix string) {
	if sev == SeverityError && p.err == nil {
		p.err = &SyntaxError{Err: ErrInvalidPolicy, Line: line, Column: col, Msg: msg, Fix: fix}
	}
	if p.diag {
		p.diags = append(p.diags, Diagnostic{Line: line, Column: col, Severity: sev, Message: msg, Fix: fix})
	}
}

// column converts offset off in s, on the current line, to a 1-based
// character column.
func (p *policyParser) column(off int) int {
	return utf8.RuneCountInString(p.s[p.lineStart:off]) + 1
}

func (p *policyParser) errorAt(off int, msg, fix string) {
	// A bare CR makes every field invalid; it is the problem to report.
	if j := strings.IndexByte(p.s[p.lineStart:p.lineEnd], '\r'); j >= 0 {
		off = p.lineStart + j
		msg, fix = "carriage return (CR) not followed by a line feed (LF)", "end every line with LF or CRLF"
	}
	p.report(SeverityError, p.line, p.column(off), msg, fix)
}

func (p *policyParser) warnAt(off int, msg, fix string) {
	if p.diag {
		p.report(SeverityWarning, p.line, p.column(off), msg, fix)
	}
}

// run parses p.s and returns the valid mx values appended to mxs, a
// buffer on the caller's stack, so that the final MX slice is allocated
// once, with its exact size, by result.
func (p *policyParser) run(mxs []string) []string {
	s := p.s
	i := 0
	if strings.HasPrefix(s, utf8BOM) {
		const msg = "the file begins with a UTF-8 byte order mark (BOM)"
		const fix = "save the file as UTF-8 without a BOM"
		if !p.diag {
			p.report(SeverityError, 1, 1, msg, fix)
			return nil
		}
		p.report(SeverityWarning, 1, 1, msg, fix)
		i = len(utf8BOM)
	}
	for i < len(s) {
		p.line++
		p.lineStart = i
		end, next := len(s), len(s)
		if k := strings.IndexByte(s[i:], '\n'); k >= 0 {
			end, next = i+k, i+k+1
			if end > i && s[end-1] == '\r' {
				end--
			}
		}
		p.lineEnd = end
		if !p.parseLine(i, end) {
			break
		}
		if p.err != nil && !p.diag {
			return nil
		}
		if p.gotMX {
			mxs = append(mxs, p.mxValue)
			p.gotMX = false
		}
		i = next
	}
	p.finish()
	return mxs
}

// result returns the parsed policy with a copy of mx as its MX. Up to
// four mx values share one allocation with the policy.
func (p *policyParser) result(mx []string) *Policy {
	if len(mx) == 0 || len(mx) > 4 {
		pol := p.pol
		if len(mx) > 0 {
			pol.MX = append([]string(nil), mx...)
		}
		return &pol
	}
	b := &struct {
		pol Policy
		mx  [4]string
	}{pol: p.pol}
	n := copy(b.mx[:], mx)
	b.pol.MX = b.mx[:n:n]
	return &b.pol
}

// parseLine parses the line s[start:end] (without its line break). It
// returns false when the rest of the input is not to be parsed.
func (p *policyParser) parseLine(start, end int) bool {
	s := p.s
	if isBlank(s[start:end]) {
		if isBlankLines(s[start:]) {
			if p.diag {
				p.warnAt(start, "blank line at the end of the policy", "remove the blank lines after the last field")
				return false
			}
			p.errorAt(start, "blank line at the end of the policy", "end the last field with a single line break")
			return false
		}
		p.errorAt(start, "blank line between fields", "remove the blank line")
		return true
	}
	if c := s[start]; c == ' ' || c == '\t' {
		p.errorAt(start, fmt.Sprintf("the line begins with a %s", describeChar(s, start)), "field names must start at the beginning of the line")
		return true
	}
	k := start
	for k < end && isExtNameChar(s[k]) {
		k++
	}
	if k == start || k == end || s[k] != ':' {
		switch {
		case k == start && s[k] == ':':
			p.errorAt(k, "missing field name before \":\"", "")
		case k == start:
			p.errorAt(k, fmt.Sprintf("unexpected %s; expected a field name", describeChar(s, k)), "")
		case k == end:
			p.errorAt(k, fmt.Sprintf("missing \":\" after the field name %s", escape.Quote(s[start:k])), fmt.Sprintf("write %s: <value>", escape.Quote(s[start:k])))
		case (s[k] == ' ' || s[k] == '\t') && skipWSP(s[:end], k) < end && s[skipWSP(s[:end], k)] == ':':
			p.errorAt(k, "whitespace between the field name and \":\"", fmt.Sprintf("write %s: <value>", s[start:k]))
		default:
			p.errorAt(k, fmt.Sprintf("%s is not allowed in a field name", describeChar(s, k)), "")
		}
		return true
	}
	name := s[start:k]
	p.lastLine = p.line
	v := skipWSP(s[:end], k+1)
	ve := end
	for ve > v && (s[ve-1] == ' ' || s[ve-1] == '\t') {
		ve--
	}
	value := s[v:ve]
	switch name {
	case "version":
		p.version(v, value)
	case "mode":
		p.mode(v, value)
	case "max_age":
		p.maxAge(v, value)
	case "mx":
		p.mx(v, value)
	default:
		p.extension(start, name, v, value)
	}
	return true
}

func (p *policyParser) duplicate(name string, first int) {
	p.warnAt(p.lineStart, fmt.Sprintf("duplicate field %s; only the first, on line %d, counts", name, first), "remove this line")
}

func (p *policyParser) version(v int, value string) {
	if value != policyVersion {
		fix := `write "version: STSv1"`
		if value == "" {
			p.errorAt(v, "version has no value", fix)
		} else {
			p.errorAt(v, fmt.Sprintf("version must be STSv1, not %s", escape.Quote(value)), fix)
		}
	}
	if p.versionLine != 0 {
		p.duplicate("version", p.versionLine)
		return
	}
	p.versionLine = p.line
}

func (p *policyParser) mode(v int, value string) {
	m := Mode(value)
	valid := m == ModeEnforce || m == ModeTesting || m == ModeNone
	if !valid {
		msg := fmt.Sprintf("mode must be enforce, testing or none, not %s", escape.Quote(value))
		fix := ""
		if value == "" {
			msg = "mode has no value"
		}
		for _, want := range [...]Mode{ModeEnforce, ModeTesting, ModeNone} {
			if strings.EqualFold(value, string(want)) {
				fix = fmt.Sprintf("write %q in lower case", want)
			}
		}
		p.errorAt(v, msg, fix)
	}
	if p.modeLine != 0 {
		p.duplicate("mode", p.modeLine)
		return
	}
	p.modeLine = p.line
	if valid {
		p.modeValid = true
		p.pol.Mode = m
	}
}

func (p *policyParser) maxAge(v int, value string) {
	const fix = "write max_age: <seconds>, at most 31557600 (one year), e.g. 604800 (one week)"
	if value == "" {
		p.errorAt(v, "max_age has no value", fix)
	}
	var secs uint64
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < '0' || c > '9' {
			msg := fmt.Sprintf("max_age must be a number of seconds in digits only; %s is not allowed", describeChar(value, i))
			if c == '-' && i == 0 {
				msg = "max_age cannot be negative"
			}
			p.errorAt(v+i, msg, fix)
			secs = 0
			value = ""
			break
		}
		secs = secs*10 + uint64(c-'0')
	}
	if len(value) > 10 {
		p.errorAt(v, fmt.Sprintf("max_age has %d digits; at most 10 are allowed", len(value)), fix)
		value = ""
	}
	if p.maxAgeLine != 0 {
		p.duplicate("max_age", p.maxAgeLine)
		return
	}
	p.maxAgeLine = p.line
	if value == "" {
		return
	}
	if secs > maxAgeLimit {
		p.warnAt(v, fmt.Sprintf("max_age %d is above the maximum of 31557600 seconds (one year); 31557600 is used", secs), "set max_age to 31557600 or less")
		secs = maxAgeLimit
	}
	p.pol.MaxAge = time.Duration(secs) * time.Second
}

func (p *policyParser) mx(v int, value string) {
	if p.mxLine == 0 {
		p.mxLine = p.line
	}
	if p.diag && len(value) > 1 && value[len(value)-1] == '.' && value[len(value)-2] != '.' && value[len(value)-2] != '*' {
		p.warnAt(v+len(value)-1, "trailing dot after the mx host name", "remove the trailing dot")
		value = value[:len(value)-1]
	}
	ok, upper := quickPattern(value)
	if !ok {
		if off, msg, fix := explainPattern(value); off >= 0 {
			p.errorAt(v+off, "mx: "+msg, fix)
			return
		}
		upper = true // or A-labels: let ToLower decide
	}
	if upper {
		value = strings.ToLower(value)
	}
	p.mxValue, p.gotMX = value, true
}

func (p *policyParser) extension(start int, name string, v int, value string) {
	if !isAlnum(name[0]) {
		p.errorAt(start, fmt.Sprintf("field name %s must begin with a letter or digit", escape.Quote(name)), "")
		return
	}
	if len(name) > 32 {
		p.errorAt(start+32, fmt.Sprintf("field name %s is %d characters long; at most 32 are allowed", escape.Quote(name), len(name)), "")
		return
	}
	if off, msg := checkExtValue(value); off >= 0 {
		if value == "" {
			p.errorAt(v, fmt.Sprintf("field %s has no value", name), "give it a value or remove the line")
		} else {
			p.errorAt(v+off, fmt.Sprintf("field %s: %s", name, msg), "")
		}
		return
	}
	if field := suggestField(name); field != "" {
		p.typos = append(p.typos, typo{line: p.line, col: p.column(start), name: name, field: field})
	}
	p.pol.Extensions = append(p.pol.Extensions, Extension{Name: name, Value: value})
}

// finish reports missing required fields and, in diag mode, the unknown
// fields that look like misspellings.
func (p *policyParser) finish() {
	if p.versionLine == 0 {
		p.missing("version", "the required field version is missing", `add the line "version: STSv1"`)
	}
	if p.modeLine == 0 {
		p.missing("mode", "the required field mode is missing", `add "mode: testing", "mode: enforce" or "mode: none"`)
	}
	if p.maxAgeLine == 0 {
		p.missing("max_age", "the required field max_age is missing", `add "max_age: <seconds>", e.g. 604800 (one week)`)
	}
	if p.modeValid && p.pol.Mode != ModeNone && p.mxLine == 0 {
		p.missing("mx", fmt.Sprintf("mode %s requires at least one mx field", p.pol.Mode), `add "mx: <host name>" lines, one per MX host name or pattern`)
	}
	for _, t := range p.typos {
		if !t.used {
			p.report(SeverityWarning, t.line, t.col, fmt.Sprintf("unknown field %s is ignored; did you mean %s?", t.name, t.field), fmt.Sprintf("rename %s to %s", t.name, t.field))
		}
	}
}

func (p *policyParser) missing(field, msg, fix string) {
	for i := range p.typos {
		t := &p.typos[i]
		if t.field == field && !t.used {
			t.used = true
			p.report(SeverityError, t.line, t.col, fmt.Sprintf("unknown field %s; did you mean %s? %s", t.name, field, msg), fmt.Sprintf("rename %s to %s", t.name, field))
			return
		}
	}
	p.report(SeverityError, p.lastLine+1, 1, msg, fix)
}

// checkExtValue checks an extension value (§3.2 sts-policy-ext-value):
// UTF-8 without control characters, spaces only inside. It returns the
// offset of the first problem and a description, or -1.
func checkExtValue(v string) (int, string) {
	if v == "" {
		return 0, "empty value"
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i, describeChar(v, i) + " is not allowed in a value"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			return i, "the value is not valid UTF-8"
		}
		i += size
	}
	return -1, ""
}

func isBlank(line string) bool {
	for i := 0; i < len(line); i++ {
		if line[i] != ' ' && line[i] != '\t' {
			return false
		}
	}
	return true
}

// isBlankLines reports whether rest holds only whitespace and line breaks.
func isBlankLines(rest string) bool {
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ' ', '\t', '\n':
		case '\r':
			if i+1 == len(rest) || rest[i+1] != '\n' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// suggestField returns the standard field name that name looks like a
// misspelling of, or "".
func suggestField(name string) string {
	for _, f := range [...]string{"version", "mode", "max_age", "mx"} {
		limit := 1
		if len(f) > 4 {
			limit = 2
		}
		if strings.EqualFold(name, f) || editDistance(name, f, limit) <= limit {
			return f
		}
	}
	return ""
}

// editDistance returns the optimal-string-alignment distance between a
// and b (insertions, deletions, substitutions and swaps of neighbours),
// or a value above limit as soon as it is certain to exceed it.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	const max = 34
	if len(a) >= max || len(b) >= max {
		return limit + 1
	}
	var rows [3][max]int // previous-but-one, previous, current
	for j := 0; j <= len(b); j++ {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := &rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[1][j]+1, cur[j-1]+1, rows[1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[0][j-2]+1)
			}
			cur[j] = d
		}
		rows[0], rows[1] = rows[1], rows[2]
	}
	return rows[1][len(b)]
}
