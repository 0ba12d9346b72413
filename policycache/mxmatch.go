package policycache

import "github.com/smtpsec/smtpsec/mtasts"

// mxMatcher holds the mx patterns of one policy prepared for matching an
// MX host name (RFC 8461 §4.1) in a few nanoseconds: the same rules as
// (*mtasts.Policy).Match, specialised for ASCII host names against the
// lower-case A-label patterns that every parsed policy holds.
type mxMatcher struct {
	policy   *mtasts.Policy // the policy compiled; used only for it
	exact    []string       // "mx1.example.com"
	suffixes []string       // ".mail.example.net" for "*.mail.example.net"
}

// compileMX prepares the patterns of p, or returns nil when one of them is
// not in normal form (then Policy.Match does the work).
func compileMX(p *mtasts.Policy) *mxMatcher {
	m := &mxMatcher{policy: p}
	for _, pat := range p.MX {
		if pat == "" || pat[len(pat)-1] == '.' {
			return nil
		}
		for i := 0; i < len(pat); i++ {
			if c := pat[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
				return nil
			}
		}
		if len(pat) > 2 && pat[0] == '*' && pat[1] == '.' {
			m.suffixes = append(m.suffixes, pat[1:])
		} else {
			m.exact = append(m.exact, pat)
		}
	}
	return m
}

// match reports whether host matches one of the patterns. ok is false for
// a host that is not ASCII; the caller then uses Policy.Match, which
// converts U-labels.
func (m *mxMatcher) match(host string) (matched, ok bool) {
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return false, false
		}
	}
	if host == "" {
		return false, true
	}
	for _, pat := range m.exact {
		if len(pat) == len(host) && equalLower(host, pat) {
			return true, true
		}
	}
	for _, suffix := range m.suffixes {
		cut := len(host) - len(suffix)
		if cut <= 0 || !equalLower(host[cut:], suffix) {
			continue
		}
		// "*" stands for exactly one label: the rest of the host.
		label := host[:cut]
		one := true
		for i := 0; i < len(label); i++ {
			if label[i] == '.' || label[i] == '*' {
				one = false
				break
			}
		}
		if one {
			return true, true
		}
	}
	return false, true
}

// equalLower reports whether s, ASCII in any case, equals lower, which is
// lower case, of the same length.
func equalLower(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
