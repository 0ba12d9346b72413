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

// AllowsMX applies the MX host patterns of RFC 8461 §4.1 (cases from
// SPEC.md) through (*mtasts.Policy).Match, the one matcher of the module.
func TestAllowsMX(t *testing.T) {
	p := matchPolicy(t, "mail.example.com", "*.example.com", "xn--bcher-kva.example")
	r := Result{Policy: p}
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
		"bücher.example":          true, // U-labels are converted
		"mäil.example.com":        true,
	} {
		if got := r.AllowsMX(host); got != want || p.Match(host) != want {
			t.Errorf("AllowsMX(%q) = %v; Policy.Match %v; want %v", host, got, p.Match(host), want)
		}
	}
	// The policy of the Result is the one applied, whatever it was before.
	r.Policy = matchPolicy(t, "mx.example.net")
	if r.AllowsMX("mail.example.com") {
		t.Error("a replaced policy was applied")
	}
	// Patterns not in normal form, as a policy built in code may hold.
	r.Policy = &mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"MX.example.com", "mx2.example.com."}}
	if !r.AllowsMX("mx.example.com") || !r.AllowsMX("MX2.example.com") {
		t.Error("patterns not in normal form are not matched as if normalised")
	}
	// Mode none and no policy allow every host.
	for _, r := range []Result{{}, {Policy: &mtasts.Policy{Mode: mtasts.ModeNone}}} {
		if !r.AllowsMX("mx.anywhere.example") {
			t.Errorf("AllowsMX false under %+v", r.Policy)
		}
	}
}

func TestAllowsMXDoesNotAllocate(t *testing.T) {
	r := Result{Policy: matchPolicy(t, "mx1.example.com", "*.mail.example.net")}
	if n := testing.AllocsPerRun(100, func() { r.AllowsMX("MX7.Mail.Example.NET") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
