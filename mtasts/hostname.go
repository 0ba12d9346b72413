package mtasts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// toASCIIHost returns host, a domain or host name as a person or a DNS
// record may write it, in the form used on the wire and in certificates:
// A-labels (IDNA Lookup profile of golang.org/x/net/idna), lower case,
// without a trailing dot. It fails for names that are not valid host names
// (empty labels, characters other than letters, digits and hyphens, labels
// over 63 or names over 253 characters, invalid punycode, bytes that are
// not UTF-8).
//
// It is the one host name normaliser of the package: policy domains,
// request hosts, MX hosts and the domain part of mx patterns all go
// through it. A name that is already lower-case letters, digits and
// hyphens is returned as it is, without allocating and without IDNA.
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
	a, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", err
	}
	if len(a) > 253 {
		return "", fmt.Errorf("%d characters long; at most 253 are allowed", len(a))
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" {
			return "", errors.New("empty label")
		}
		if len(label) > 63 {
			return "", fmt.Errorf("label %q is longer than 63 characters", label)
		}
	}
	return a, nil
}

// scanLDHName reports, in one pass and without allocating, whether s is a
// host name that the IDNA Lookup profile leaves as it is apart from
// lowering letters: labels of 1 to 63 letters, digits and hyphens, none
// beginning or ending with a hyphen, none with "--" in third and fourth
// place (A-labels such as "xn--bcher-kva" and other reserved labels are
// left to the slow path, which decodes and checks them). It also reports
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
			n >= 4 && s[start+2] == '-' && s[start+3] == '-' {
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
