package mtasts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// NormalizeDomain returns name, a domain or host name as a person, a
// configuration file or a DNS record may write it, in the one form this
// module uses for policy domains, MX hosts, cache keys, DNS queries and
// URLs: A-labels, lower case, without a trailing dot. RFC 8461 §3.2 and
// §4.1 compare names in A-labels (RFC 5890 §2.3.2.1); U-labels are
// converted with the IDNA Lookup rules of RFC 5891 §5 (UTS #46 mapping,
// golang.org/x/net/idna), upper-case letters are lowered and one trailing
// dot is dropped.
//
// The result has labels of 1 to 63 letters, digits and hyphens, none
// beginning or ending with a hyphen, and is at most 253 characters long
// (RFC 1035 §2.3.4, RFC 5890 §2.3.1). An "xn--" label must be a valid
// A-label: its punycode must decode to a U-label that IDNA2008 allows,
// including the rule of RFC 5891 §4.2.3.1 against hyphens in the third
// and fourth positions. Other labels with "--" there, such as "ab--c",
// are accepted: RFC 5891 reserves that form for IDNA labels, but such a
// label is a valid LDH host name label (RFC 5890 §2.3.1) that DNS serves
// and an MX record may name, so rejecting it would only make a domain
// impossible to protect. A name whose last label is all digits, such as
// "192.0.2.1", is a name as far as DNS is concerned and is accepted.
//
// A name that is already in normal form and has no "xn--" label is
// returned as it is, without allocating. Errors match ErrInvalidDomain.
func NormalizeDomain(name string) (string, error) {
	a, err := toASCIIHost(name)
	if err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrInvalidDomain, escape.Quote(name), err)
	}
	return a, nil
}

// hostProfile is the IDNA Lookup profile without the UTS #46 CheckHyphens
// rule, which would reject LDH labels such as "ab--c"; toASCIIHost checks
// hyphens itself. It is configured once and never changed.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.CheckHyphens(false))

// toASCIIHost is NormalizeDomain with the bare reason as its error, for
// callers that add their own context. It is the one host name normaliser
// of the module: policy domains, request hosts, MX hosts and the domain
// part of mx patterns all go through it.
func toASCIIHost(host string) (string, error) {
	h := strings.TrimSuffix(host, ".")
	if h == "" {
		return "", errors.New("empty name")
	}
	if len(h) <= 253 {
		if ok, upper, _ := scanLDHName(h); ok {
			if upper {
				h = strings.ToLower(h) // what the IDNA mapping does to ASCII letters
			}
			return h, nil
		}
	}
	if !utf8.ValidString(h) {
		// IDNA would turn the bad bytes into U+FFFD and encode that.
		return "", errors.New("not valid UTF-8")
	}
	a, err := hostProfile.ToASCII(h)
	if err != nil {
		return "", err
	}
	if len(a) > 253 {
		return "", fmt.Errorf("%d characters long; at most 253 are allowed", len(a))
	}
	for label := range strings.SplitSeq(a, ".") {
		switch {
		case label == "":
			return "", errors.New("empty label")
		case len(label) > 63:
			return "", fmt.Errorf("label %s is longer than 63 characters", escape.Quote(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("invalid label %s: begins or ends with a hyphen", escape.Quote(label))
		case isACEPrefixed(label):
			// The full Lookup rules for the U-label, hyphens included.
			if _, err := idna.Lookup.ToUnicode(label); err != nil {
				return "", err
			}
		}
	}
	return a, nil
}

// isACEPrefixed reports whether label begins with "xn--", the prefix of
// A-labels (RFC 5890 §2.3.2.1), in any letter case.
func isACEPrefixed(label string) bool {
	return len(label) >= 4 && label[0]|0x20 == 'x' && label[1]|0x20 == 'n' && label[2] == '-' && label[3] == '-'
}

// scanLDHName reports, in one pass and without allocating, whether s is a
// host name that NormalizeDomain leaves as it is apart from lowering
// letters: labels of 1 to 63 letters, digits and hyphens, none beginning
// or ending with a hyphen, none beginning with "xn--" (A-labels such as
// "xn--bcher-kva" are left to the slow path, which decodes and checks
// them). It also reports
// whether s has upper-case letters and whether its last label is all
// digits. The length of the whole name is the caller's to check.
func scanLDHName(s string) (ok, upper, lastDigits bool) {
	i := 0
	for {
		start := i
		var all, some uint8 = 0xff, 0
		for ; i < len(s) && s[i] != '.'; i++ {
			k := charClass[s[i]]
			all &= k
			some |= k
		}
		n := i - start
		if all&classLDH == 0 || n == 0 || n > 63 || s[start] == '-' || s[i-1] == '-' ||
			isACEPrefixed(s[start:i]) {
			return false, false, false
		}
		upper = upper || some&classUpper != 0
		if i == len(s) {
			return true, upper, some&classNotDigit == 0
		}
		i++ // the dot
	}
}

// lowerASCIINoDot lower-cases the ASCII letters of s and drops one
// trailing dot: the best display form of a name toASCIIHost rejected.
func lowerASCIINoDot(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}
