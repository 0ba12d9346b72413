package policycache

import (
	"testing"

	"github.com/smtpsec/smtpsec/mtasts"
)

func matchPolicy(t testing.TB, mx ...string) *mtasts.Policy {
	p, err := mtasts.NewPolicy(mtasts.ModeEnforce, 86400e9, mx...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The prepared matcher gives the answers of (*mtasts.Policy).Match, which
// implement RFC 8461 §4.1 (cases from SPEC.md).
func TestMXMatcher(t *testing.T) {
	p := matchPolicy(t, "mail.example.com", "*.example.com", "xn--bcher-kva.example")
	m := compileMX(p)
	if m == nil {
		t.Fatal("patterns in normal form not compiled")
	}
	for host, want := range map[string]bool{
		"mail.example.com":        true,
		"MAIL.EXAMPLE.COM.":       true,
		"x.mail.example.com":      false,
		"other.example.com":       true,
		"example.com":             false,
		"a.b.example.com":         false,
		".example.com":            false,
		"mailexample.com":         false,
		"*.example.com":           false,
		"xn--mil-qla.example.com": true,
		"xn--bcher-kva.example":   true,
		"XN--BCHER-KVA.example.":  true,
		"":                        false,
		".":                       false,
	} {
		got, ok := m.match(host)
		if !ok || got != want || p.Match(host) != want {
			t.Errorf("match(%q) = %v, %v; Policy.Match %v; want %v", host, got, ok, p.Match(host), want)
		}
	}
	// U-labels are left to Policy.Match, which converts them.
	if _, ok := m.match("bücher.example"); ok {
		t.Error("a U-label host was matched without conversion")
	}
	r := Result{Policy: p, mx: m}
	if !r.AllowsMX("bücher.example") || !r.AllowsMX("mäil.example.com") {
		t.Error("AllowsMX does not fall back to Policy.Match for U-labels")
	}
	// A matcher is only used for the policy it was made from.
	r.Policy = matchPolicy(t, "mx.example.net")
	if r.AllowsMX("mail.example.com") {
		t.Error("a stale matcher was used")
	}
	// Patterns not in normal form are left to Policy.Match.
	if compileMX(&mtasts.Policy{MX: []string{"MX.example.com"}}) != nil || compileMX(&mtasts.Policy{MX: []string{"mx.example.com."}}) != nil {
		t.Error("patterns not in normal form were compiled")
	}
}

func TestAllowsMXDoesNotAllocate(t *testing.T) {
	p := matchPolicy(t, "mx1.example.com", "*.mail.example.net")
	r := Result{Policy: p, mx: compileMX(p)}
	if n := testing.AllocsPerRun(100, func() { r.AllowsMX("MX7.Mail.Example.NET") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzMXMatcher: for any pattern and host, the prepared matcher agrees
// with (*mtasts.Policy).Match.
func FuzzMXMatcher(f *testing.F) {
	f.Add("*.example.com", "mail.example.com")
	f.Add("*.example.com", "a.b.example.com")
	f.Add("mail.example.com", "MAIL.example.com.")
	f.Add("*.mail.example.net", "MX7.Mail.Example.NET")
	f.Add("*.example.com", "*.example.com")
	f.Add("a.example", "a.example..")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		pat, err := mtasts.ParsePattern(pattern)
		if err != nil {
			return
		}
		p := &mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{string(pat)}, MaxAge: 86400e9}
		m := compileMX(p)
		if m == nil {
			t.Fatalf("ParsePattern result %q not compiled", pat)
		}
		if got, ok := m.match(host); ok && got != p.Match(host) {
			t.Fatalf("pattern %q host %q: matcher %v, Policy.Match %v", pat, host, got, p.Match(host))
		}
	})
}
