package mtasts

import (
	"errors"
	"strings"
	"testing"
)

// matchCases are the MX matching rules of RFC 8461 §4.1 and the tricky
// inputs of SPEC.md.
var matchCases = []struct {
	pattern string
	host    string
	want    bool
}{
	{"*.example.com", "mail.example.com", true},
	{"*.example.com", "example.com", false},
	{"*.example.com", "a.b.example.com", false},
	{"*.example.com", ".example.com", false},
	{"*.example.com", "mailexample.com", false},
	{"*.example.com", "MAIL.EXAMPLE.COM.", true},
	{"*.example.com", "xn--mil-qla.example.com", true},
	{"*.example.com", "mäil.example.com", true},
	{"*.example.com", "MÄIL.example.com", true},
	{"*.example.com", "*.example.com", false},
	{"*.example.com", "mail.example.com..", false},
	{"*.example.com", "mail.example.com.evil.example", false},
	{"*.example.com", "mail.example.org", false},
	{"*.example.com", "", false},
	{"*.example.com", ".", false},
	{"mail.example.com", "MAIL.EXAMPLE.COM.", true},
	{"mail.example.com", "mail.example.com", true},
	{"mail.example.com", "x.mail.example.com", false},
	{"mail.example.com", "mail.example.co", false},
	{"mail.example.com", "mail.example.comm", false},
	{"mail.example.com", "", false},
	{"xn--bcher-kva.example", "bücher.example", true},
	{"xn--bcher-kva.example", "BÜCHER.example.", true},
	{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
	{"xn--bcher-kva.example", "bucher.example", false},
	{"mx.xn--bcher-kva.example", "mx.bücher.example", true},
	{"*.xn--bcher-kva.example", "mx.bücher.example", true},
	{"*.xn--bcher-kva.example", "mx.xn--bcher-kva.example", true},
	{"*.xn--bcher-kva.example", "bücher.example", false},
	{"*.example.com", "mx_1.example.com", true},    // host names come from DNS; only the pattern is checked
	{"*.example.com", "m\xffx.example.com", false}, // not UTF-8: never matches
}

func TestPatternMatch(t *testing.T) {
	for _, tc := range matchCases {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tc.pattern, err)
		}
		if got := p.Match(tc.host); got != tc.want {
			t.Errorf("Pattern(%q).Match(%q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
		pol := &Policy{Mode: ModeEnforce, MX: []string{"other.example.net", tc.pattern}}
		if got := pol.Match(tc.host); got != tc.want {
			t.Errorf("Policy{MX: %q}.Match(%q) = %v, want %v", pol.MX, tc.host, got, tc.want)
		}
		if got := referenceMatch(tc.pattern, tc.host); isASCII(tc.host) && got != tc.want {
			t.Errorf("referenceMatch(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
}

// referenceMatch is §4.1 written the slow and obvious way, for ASCII
// hosts and normalised patterns.
func referenceMatch(pattern, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	pattern = strings.ToLower(pattern)
	if host == "" || pattern == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, domain, ok := strings.Cut(host, ".")
		return ok && label != "" && label != "*" && !strings.Contains(label, "*") && domain == rest
	}
	return host == pattern
}

func TestPolicyMatchBuiltInCode(t *testing.T) {
	// A Policy built in code, not normalised: Match still compares as if it were.
	p := &Policy{Mode: ModeEnforce, MX: []string{"", "MAIL.Example.COM.", "*.BÜCHER.example", "bad pattern ü,"}}
	for host, want := range map[string]bool{
		"mail.example.com":         true,
		"mx.bücher.example":        true,
		"mx.xn--bcher-kva.example": true,
		"MX.XN--BCHER-KVA.EXAMPLE": true,
		"bücher.example":           false,
		"other.example.com":        false,
		"":                         false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
	var zero Pattern
	if zero.Match("example.com") || zero.Match("") {
		t.Error("the zero Pattern matches")
	}
	if (&Policy{}).Match("mail.example.com") {
		t.Error("an empty policy matches")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, err := ParsePolicy([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	pat := Pattern("*.mail.example.net")
	for _, host := range []string{"MX7.Mail.Example.NET", "mx1.example.com.", "nomatch.example.org", "a.b.mail.example.net"} {
		if n := testing.AllocsPerRun(100, func() { p.Match(host) }); n != 0 {
			t.Errorf("Policy.Match(%q) allocates %v times", host, n)
		}
		if n := testing.AllocsPerRun(100, func() { pat.Match(host) }); n != 0 {
			t.Errorf("Pattern.Match(%q) allocates %v times", host, n)
		}
	}
}

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in   string
		want Pattern
		msg  string // error message part, if an error is expected
	}{
		{in: "mail.example.com", want: "mail.example.com"},
		{in: "MAIL.Example.COM.", want: "mail.example.com"},
		{in: "*.example.com", want: "*.example.com"},
		{in: "*.bücher.example", want: "*.xn--bcher-kva.example"},
		{in: "mx.Bücher.example.", want: "mx.xn--bcher-kva.example"},
		{in: "XN--BCHER-KVA.example", want: "xn--bcher-kva.example"},
		{in: "mail.example.com..", msg: "trailing dot"},
		{in: "", msg: "no host name"},
		{in: ".", msg: "no host name"},
		{in: "*", msg: "lone"},
		{in: "*.", msg: "must be followed by a domain"},
		{in: "mail.*.example.com", msg: "whole left-most label"},
		{in: "*.*.example.com", msg: "whole left-most label"},
		{in: "**.example.com", msg: "whole left-most label"},
		{in: "192.0.2.1", msg: "is an IP address"},
		{in: "[192.0.2.1]", msg: "address literal"},
		{in: "::1", msg: "is an IP address"},
		{in: "*.192.0.2.1", msg: "all digits"},
		{in: "a.example.com, b.example.com", msg: "an mx field holds one host name"},
		{in: "_mta-sts.example.com", msg: `"_" is not allowed`},
		{in: "mx.example.com:25", msg: "port"},
		{in: "xn--zz.example", msg: "not a valid A-label"},
		{in: "ab_c.bücher.example", msg: "not a valid internationalized host name"},
		{in: strings.Repeat("a.", 126) + "com", msg: "at most 253"},
	}
	for _, tc := range tests {
		got, err := ParsePattern(tc.in)
		if tc.msg == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParsePattern(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParsePattern(%q) = %q, %v; want an ErrInvalidPolicy error containing %q", tc.in, got, err, tc.msg)
		}
	}
}

func TestQuickPatternAgreesWithExplain(t *testing.T) {
	inputs := []string{"mail.example.com", "MAIL.example.com", "*.example.com", "a", "1", "a.1", "1.a", "a-b.c", "-a.c", "a-.c",
		"ab--cd.example", "xn--bcher-kva.example", "*.", "*", "a..b", ".a", "a.", strings.Repeat("a", 63), strings.Repeat("a", 64),
		strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "ab"}
	for _, s := range inputs {
		quick, _ := quickPattern(s)
		off, _, _ := explainPattern(s)
		if quick && off >= 0 {
			t.Errorf("quickPattern(%q) accepts what explainPattern rejects", s)
		}
	}
}
