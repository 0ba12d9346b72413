package mtasts

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/smtpsec/smtpsec/internal/escape"
	"golang.org/x/net/idna"
)

// A Pattern is an MX host pattern of RFC 8461 §3.2 and §4.1 in normal
// form: a host name in A-labels, lower case, without a trailing dot,
// optionally beginning with the wildcard label "*.". Make one with
// ParsePattern; the zero value matches nothing.
type Pattern string

// ParsePattern checks and normalises an MX host pattern written by a
// person or taken from configuration: U-labels are converted to A-labels
// with the IDNA Lookup profile of golang.org/x/net/idna (so "*.bücher.example"
// becomes "*.xn--bcher-kva.example"), letters are lowered and one trailing
// dot is dropped. The result must be a host name of letters, digits and
// hyphens (RFC 5321 §4.1.2 Domain, labels of at most 63 characters) whose
// last label is not all digits, optionally preceded by "*." — the only
// wildcard §4.1 allows. IP addresses, ports, lists and "*" anywhere else are
// rejected. Errors match ErrInvalidPolicy.
func ParsePattern(s string) (Pattern, error) {
	norm := strings.TrimSuffix(s, ".")
	if !isASCII(norm) {
		if !utf8.ValidString(norm) {
			return "", fmt.Errorf("%w: mx pattern %s is not valid UTF-8", ErrInvalidPolicy, escape.Quote(s))
		}
		prefix, rest := "", norm
		if strings.HasPrefix(norm, "*.") {
			prefix, rest = "*.", norm[2:]
		}
		a, err := toASCIIHost(rest)
		if err != nil {
			return "", fmt.Errorf("%w: mx pattern %s is not a valid internationalized host name: %v", ErrInvalidPolicy, escape.Quote(s), err)
		}
		norm = prefix + a
	}
	norm = strings.ToLower(norm)
	if off, msg, fix := checkPattern(norm); off >= 0 {
		return "", patternError(s, msg, fix)
	}
	return Pattern(norm), nil
}

func patternError(s, msg, fix string) error {
	if fix != "" {
		return fmt.Errorf("%w: mx pattern %s: %s (%s)", ErrInvalidPolicy, escape.Quote(s), msg, fix)
	}
	return fmt.Errorf("%w: mx pattern %s: %s", ErrInvalidPolicy, escape.Quote(s), msg)
}

// Match reports whether the MX host name host matches the pattern
// (RFC 8461 §4.1): letters compare case-insensitively, a trailing dot on
// host is ignored, and "*." matches exactly one non-empty left-most label,
// so "*.example.com" matches "mail.example.com" but neither "example.com"
// nor "a.b.example.com". A host given in U-labels is converted to A-labels
// first. Matching an ASCII host does not allocate.
func (p Pattern) Match(host string) bool {
	h, ok := normalizeHost(host)
	return ok && matchPattern(string(p), h)
}

// Match reports whether host, the name of an MX record, matches any of the
// policy's mx patterns (RFC 8461 §4.1), with the rules of Pattern.Match.
// Patterns in the policy that are not in normal form (as a Policy built in
// code may hold: upper case, a trailing dot, U-labels) are compared as if
// normalised. Match does not look at the mode: with mode none the policy
// is not to be applied at all (§5). Matching an ASCII host against ASCII
// patterns does not allocate.
func (p *Policy) Match(host string) bool {
	h, ok := normalizeHost(host)
	if !ok {
		return false
	}
	for _, m := range p.MX {
		if matchPattern(m, h) {
			return true
		}
	}
	return false
}

// normalizeHost turns host, the name of an MX record, into ASCII without
// a trailing dot, for matching. ASCII hosts are returned as substrings,
// without allocating and without checks: MX host names come from DNS and
// only the patterns are checked, and letter case is left to the
// comparison. Other hosts go through toASCIIHost.
func normalizeHost(host string) (string, bool) {
	if !isASCII(host) {
		if !utf8.ValidString(host) {
			return "", false // IDNA would turn the bad bytes into U+FFFD
		}
		a, err := toASCIIHost(host)
		return a, err == nil
	}
	host = strings.TrimSuffix(host, ".")
	return host, host != ""
}

// matchPattern matches an ASCII host without trailing dot against pat.
// The common case, a pattern in normal form, is decided by comparing
// bytes; only a pattern that fails that comparison is looked at for
// U-labels, which may match once converted to A-labels.
func matchPattern(pat, host string) bool {
	if n := len(pat); n > 0 && pat[n-1] == '.' {
		pat = pat[:n-1]
	}
	if len(pat) > 2 && pat[0] == '*' && pat[1] == '.' {
		suffix := pat[1:] // ".example.com"
		if cut := len(host) - len(suffix); cut > 0 && equalFoldASCII(host[cut:], suffix) {
			// The suffix is ASCII, as host is: the pattern is too.
			return oneLabel(host[:cut])
		}
	} else if pat != "" && equalFoldASCII(host, pat) {
		return true
	}
	if isASCII(pat) {
		return false
	}
	q, err := ParsePattern(pat)
	return err == nil && matchPattern(string(q), host)
}

// oneLabel reports whether s, the part of a host name a wildcard stands
// for, is a single label: "*" matches exactly one (§4.1).
func oneLabel(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' || s[i] == '*' {
			return false
		}
	}
	return true
}

// equalFoldASCII reports whether the ASCII strings a and b are equal
// when upper-case letters are lowered.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// checkPattern checks s, an mx value as written in a policy file: ASCII,
// either case, ["*."] Domain (RFC 5321 §4.1.2), A-labels that decode as
// IDNA, labels of 1 to 63 characters, at most 253 characters, a last label
// that is not all digits. It returns the byte offset of the first problem,
// a description and a suggested fix, or -1.
func checkPattern(s string) (off int, msg, fix string) {
	if ok, _ := quickPattern(s); ok {
		return -1, "", ""
	}
	return explainPattern(s)
}

// quickPattern reports, in one pass and without allocating, whether s is
// a valid pattern without A-labels, and whether it has upper-case letters.
// When it returns false, explainPattern decides.
func quickPattern(s string) (ok, upper bool) {
	if len(s) > 253 {
		return false, false
	}
	host := s
	if len(s) > 2 && s[0] == '*' && s[1] == '.' {
		host = s[2:]
	}
	ok, upper, lastDigits := scanLDHName(host)
	return ok && !lastDigits, upper
}

// explainPattern is the slow path of checkPattern: it finds and explains
// the problem with s, or validates its A-labels.
func explainPattern(s string) (off int, msg, fix string) {
	const oneHost = "put each host name on its own mx line"
	if s == "" {
		return 0, "no host name", "write a host name such as mail.example.com"
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			msg, fix := uLabelProblem(s)
			return i, msg, fix
		case c == ',' || c == ';':
			return i, fmt.Sprintf("%q found; an mx field holds one host name", string(c)), oneHost
		case c == ' ' || c == '\t':
			return i, "whitespace inside the host name; an mx field holds one host name", oneHost
		}
	}
	if s[0] == '[' {
		return 0, "an address literal is not allowed; mx holds a host name", "write the MX host's name"
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if _, err := netip.ParseAddr(s); err == nil {
			return 0, fmt.Sprintf("%s is an IP address; mx holds a host name", escape.Quote(s)), "write the MX host's name"
		}
		return i, "a port or \":\" is not allowed in a host name", "remove " + escape.Quote(s[i:])
	}
	host, base := s, 0
	if s[0] == '*' {
		switch {
		case len(s) == 1:
			return 0, "a lone \"*\" is not a pattern; the wildcard must be followed by a domain", "write *.example.com"
		case s[1] != '.':
			return 1, "the wildcard must be a whole left-most label, \"*.\" followed by a domain", ""
		case len(s) == 2:
			return 2, "\"*.\" must be followed by a domain", "write *.example.com"
		}
		host, base = s[2:], 2
	}
	if len(host)+base > 253 {
		return 253, fmt.Sprintf("the host name is %d characters long; at most 253 are allowed", len(s)), ""
	}
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			switch c := host[i]; {
			case c == '*':
				return base + i, "the wildcard \"*\" is allowed only as the whole left-most label, as in *.example.com", ""
			case c == '_':
				return base + i, "\"_\" is not allowed in a host name", ""
			case !isAlnum(c) && c != '-':
				return base + i, describeChar(host, i) + " is not allowed in a host name", ""
			}
			continue
		}
		label := host[start:i]
		switch {
		case label == "" && i == len(host):
			return base + i - 1, "trailing dot; mx host names are written without the final dot", "remove the trailing dot"
		case label == "" && i == 0:
			return base, "the host name begins with a dot", "remove the leading dot"
		case label == "":
			return base + i, "empty label (two dots in a row)", ""
		case len(label) > 63:
			return base + start, fmt.Sprintf("label %s is %d characters long; at most 63 are allowed", escape.Quote(label), len(label)), ""
		case len(label) >= 4 && strings.EqualFold(label[:4], "xn--") && !isALabel(label):
			return base + start, fmt.Sprintf("label %s is not a valid A-label (punycode)", escape.Quote(label)), ""
		case label[0] == '-' || label[len(label)-1] == '-':
			return base + start, fmt.Sprintf("label %s begins or ends with a hyphen", escape.Quote(label)), ""
		}
		if i == len(host) && allDigits(label) {
			if _, err := netip.ParseAddr(host); err == nil && base == 0 {
				return 0, fmt.Sprintf("%s is an IP address; mx holds a host name", escape.Quote(s)), "write the MX host's name"
			}
			return base + start, fmt.Sprintf("the last label %s is all digits; mx holds a host name, not an address", escape.Quote(label)), ""
		}
		start = i + 1
	}
	return -1, "", ""
}

// uLabelProblem explains a non-ASCII mx value and, if it converts, gives
// its A-label form.
func uLabelProblem(s string) (string, string) {
	q, err := ParsePattern(s)
	if err != nil {
		return "non-ASCII characters in a host name; mx values must be A-labels (punycode)", ""
	}
	return "the host name is written in U-labels; mx values must be A-labels (punycode)", fmt.Sprintf("write %s", q)
}

// isALabel reports whether label, beginning with "xn--", is a valid A-label:
// it decodes to a Unicode label that encodes back to the same text.
func isALabel(label string) bool {
	lower := strings.ToLower(label)
	u, err := idna.Lookup.ToUnicode(lower)
	if err != nil || u == "" || u == lower || strings.IndexByte(u, '.') >= 0 {
		return false
	}
	a, err := idna.Lookup.ToASCII(u)
	return err == nil && a == lower
}

func isASCII(s string) bool {
	if len(s) < 8 {
		var or byte
		for i := 0; i < len(s); i++ {
			or |= s[i]
		}
		return or < 0x80
	}
	// Eight bytes at a time, the last eight overlapping the word before.
	w := word(s[len(s)-8:])
	for len(s) > 8 {
		w |= word(s)
		s = s[8:]
	}
	return w&0x8080808080808080 == 0
}

// word returns the first eight bytes of s as one little-endian word; the
// byte loads combine into one.
func word(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
