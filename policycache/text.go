package policycache

import (
	"strings"

	"github.com/smtpsec/smtpsec/mtasts"
)

// A cached policy keeps one copy of its text, and the strings of the
// *mtasts.Policy that Lookup returns (mx patterns, extension names and
// values) and the TLS-RPT policy-string lines of RFC 8460 §4.4 are all
// substrings of it. With a textStore (the default MemoryStore) that text
// is the stored form of its entry (storedPolicy.encode), which the store
// keeps too: one copy for both. With any other Store it is only the
// policy's canonical form, and the stored form is made again when it is
// written (Cache.save): the stored form's header (domain, id, fetch time,
// checksum) would double what a cached policy costs. Without this, a
// policy cost its fetched text, its canonical form for the policy-string
// lines and the store's copy of the entry.

// sharedPolicy returns the text of s to keep in memory (its stored form
// when whole, else the canonical policy text), a copy of s.Policy whose
// strings are substrings of it, and the lines of the canonical policy text
// (without line breaks), also substrings of it. When reuse is the same
// stored form (the text a MemoryStore already holds), that string is used
// and nothing new is kept.
func sharedPolicy(s *storedPolicy, reuse string, whole bool) (text string, p *mtasts.Policy, lines []string) {
	canonical := s.Policy.String()
	text = canonical
	if whole {
		text = string(s.encode())
		if text == reuse {
			text = reuse
		}
		_, canonical, _ = strings.Cut(text, "\n\n")
	}
	lines = strings.Split(strings.TrimSuffix(canonical, "\r\n"), "\r\n")
	return text, rebase(s.Policy, lines), lines
}

// rebase returns a copy of p whose strings are taken from lines, the lines
// of p's canonical text (see (*mtasts.Policy).String): version, mode, one
// line per mx pattern, max_age, one line per extension. A string that is
// not where the canonical form puts it keeps its own memory, so rebase
// never changes the policy.
func rebase(p *mtasts.Policy, lines []string) *mtasts.Policy {
	q := *p
	const first = 2 // after version and mode
	if len(lines) != first+len(p.MX)+1+len(p.Extensions) {
		return &q
	}
	// Even the mode: as a substring of a fetched policy it would keep all
	// of that policy's text alive.
	if m, ok := strings.CutPrefix(lines[1], "mode: "); ok && m == string(p.Mode) {
		q.Mode = mtasts.Mode(m)
	}
	q.MX = make([]string, len(p.MX))
	for i, mx := range p.MX {
		q.MX[i] = mx
		if v, ok := strings.CutPrefix(lines[first+i], "mx: "); ok && v == mx {
			q.MX[i] = v
		}
	}
	if len(p.Extensions) > 0 {
		q.Extensions = make([]mtasts.Extension, len(p.Extensions))
		for i, x := range p.Extensions {
			q.Extensions[i] = x
			line := lines[first+len(p.MX)+1+i]
			if name, value, ok := strings.Cut(line, ": "); ok && name == x.Name && value == x.Value {
				q.Extensions[i] = mtasts.Extension{Name: name, Value: value}
			}
		}
	}
	return &q
}
