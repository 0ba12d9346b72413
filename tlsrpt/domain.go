package tlsrpt

import (
	"net/netip"
	"strings"
)

// isHostName reports whether s is a domain name in the form RFC 8460 asks
// for wherever it names a domain (§4.4, §5.1): the RFC 5321 §4.1.2 Domain
// of LDH labels separated by dots, internationalised names as A-labels
// (LDH, so U-labels are rejected), labels of at most 63 and names
// of at most 253 characters, no trailing dot. Case is not significant.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if charClass[s[i]]&classLDH == 0 {
				return false
			}
			continue
		}
		// s[start:i] is a label.
		if n := i - start; n == 0 || n > 63 || s[start] == '-' || s[i-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// isMXPattern reports whether s is an MX host pattern of RFC 8461 §3.2 as
// the mx-host member of RFC 8460 §4.4 carries it: a host name in A-labels,
// optionally starting with the wildcard label "*.".
func isMXPattern(s string) bool {
	return isHostName(strings.TrimPrefix(s, "*."))
}

// isIPv6Literal reports whether s is an IPv6 address without a zone, as in
// the brackets of a URI host (RFC 3986 §3.2.2).
func isIPv6Literal(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}
