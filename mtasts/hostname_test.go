package mtasts

import (
	"errors"
	"strings"
	"testing"
)

func TestToASCIIHost(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "example.com", want: "example.com"},
		{in: "Mail.EXAMPLE.com.", want: "mail.example.com"},
		{in: "mta-sts.bücher.example", want: "mta-sts.xn--bcher-kva.example"},
		{in: "XN--BCHER-KVA.example", want: "xn--bcher-kva.example"},
		{in: "ab--c.example", want: "ab--c.example"}, // LDH, not an A-label: accepted
		{in: "AB--C.example", want: "ab--c.example"},
		{in: "ab--c.bücher.example", want: "ab--c.xn--bcher-kva.example"},
		{in: "ab--ü.example", err: "invalid label"},         // a U-label may not have "--" in third and fourth place (RFC 5891 §4.2.3.1)
		{in: "xn--ab--c-ova.example", err: "invalid label"}, // its U-label "ab--cü" may not either
		{in: "ab--.example", err: "hyphen"},
		{in: "a-.bücher.example", err: "hyphen"},
		{in: "xn--zz.example", err: "idna"},
		{in: "-a.example", err: "invalid label"},
		{in: "a_b.example", err: "disallowed"},
		{in: "a..b", err: "empty label"},
		{in: "", err: "empty name"},
		{in: ".", err: "empty name"},
		{in: strings.Repeat("a", 64) + ".example", err: "longer than 63"},
		{in: strings.Repeat("a.", 126) + "bc", err: "at most 253"},
		{in: strings.Repeat("a.", 126) + "b", want: strings.Repeat("a.", 126) + "b"},
		{in: "192.0.2.1", want: "192.0.2.1"}, // a name, as far as DNS is concerned
		{in: "\xf2000.example", err: "UTF-8"},
	} {
		got, err := toASCIIHost(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("toASCIIHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("toASCIIHost(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
		}
	}
}

func TestToASCIIHostFastPathDoesNotAllocate(t *testing.T) {
	for _, host := range []string{"mta-sts.example.com", "mta-sts.example.com.", "a1-b2.c"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = toASCIIHost(host) }); n != 0 {
			t.Errorf("toASCIIHost(%q) allocates %v times", host, n)
		}
	}
}

// FuzzToASCIIHost: whatever scanLDHName lets through without IDNA is what
// the IDNA Lookup profile without its hyphen rule (hostProfile) returns for
// it, so the fast path changes no answer.
func FuzzToASCIIHost(f *testing.F) {
	for _, s := range []string{"example.com", "MX.Example.COM.", "ab--c.example", "xn--bcher-kva.example", "a-.b", "1.2", "a..b", "bücher.example", "a_b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := toASCIIHost(s)
		h := strings.TrimSuffix(s, ".")
		if ok, _, _ := scanLDHName(h); ok && len(h) <= 253 {
			want, werr := hostProfile.ToASCII(h)
			if err != nil || werr != nil || got != want {
				t.Fatalf("toASCIIHost(%q) = %q, %v; hostProfile gives %q, %v", s, got, err, want, werr)
			}
		}
		if err != nil {
			return
		}
		if again, err := toASCIIHost(got); err != nil || again != got {
			t.Fatalf("toASCIIHost(%q) = %q, but again %q, %v", s, got, again, err)
		}
		if ok, upper, _ := scanLDHName(got); got != strings.ToLower(got) || ok && upper {
			t.Fatalf("toASCIIHost(%q) = %q, not lower case", s, got)
		}
	})
}

func BenchmarkToASCIIHost(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := toASCIIHost("mta-sts.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{ // want "" means ErrInvalidDomain
		{"Example.COM.", "example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"ab--c.example", "ab--c.example"},
		{"xn--zz.example", ""},
		{"a_b.example", ""},
		{"", ""},
	} {
		got, err := NormalizeDomain(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidDomain) || got != "" {
				t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrInvalidDomain", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	d := strings.Clone("mta-sts.example.com")
	if n := testing.AllocsPerRun(100, func() { _, _ = NormalizeDomain(d) }); n != 0 {
		t.Errorf("NormalizeDomain(%q) allocates %v times", d, n)
	}
}
