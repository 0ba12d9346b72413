package policycache

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// ErrInvalidDomain is matched (errors.Is) by the error Lookup returns for
// a policy domain that is not a valid host name.
var ErrInvalidDomain = errors.New("policycache: invalid policy domain")

// normalizeDomain returns the policy domain in the form used as the cache
// key, in DNS queries and in the policy URL: A-labels, lower case, no
// trailing dot (RFC 8461 §3.4: the domain itself, never a parent). A
// domain already in that form is returned as is, without allocating.
func normalizeDomain(domain string) (string, error) {
	if d, ok := fastNormal(domain); ok {
		return d, nil
	}
	d := strings.TrimSuffix(domain, ".")
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidDomain, domain, err)
	}
	a = strings.ToLower(a)
	if n, ok := fastNormal(a); ok {
		return n, nil
	}
	return "", fmt.Errorf("%w %q: not a host name of letters, digits and hyphens", ErrInvalidDomain, domain)
}

// fastNormal reports whether domain is already normal: 1 to 253 bytes of
// dot-separated labels of 1 to 63 lower-case letters, digits and hyphens,
// no label beginning or ending with a hyphen, no trailing dot. It returns
// domain unchanged.
func fastNormal(domain string) (string, bool) {
	if len(domain) == 0 || len(domain) > 253 {
		return "", false
	}
	start := 0
	for i := 0; i <= len(domain); i++ {
		if i == len(domain) || domain[i] == '.' {
			n := i - start
			if n == 0 || n > 63 || domain[start] == '-' || domain[i-1] == '-' {
				return "", false
			}
			start = i + 1
			continue
		}
		c := domain[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", false
		}
	}
	return domain, true
}

// checkIDNA reports whether a domain in normal form is also valid IDNA:
// "xn--" labels must decode. Lookup runs it before remembering a new
// domain, off the hot path.
func checkIDNA(domain string) error {
	if !strings.Contains(domain, "xn--") {
		return nil
	}
	if _, err := idna.Lookup.ToUnicode(domain); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidDomain, domain, err)
	}
	return nil
}
