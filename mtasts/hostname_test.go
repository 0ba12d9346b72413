package mtasts

import (
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

func TestToASCIIHost(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "example.com", want: "example.com"},
		{in: "Mail.EXAMPLE.com.", want: "mail.example.com"},
		{in: "mta-sts.bücher.example", want: "mta-sts.xn--bcher-kva.example"},
		{in: "XN--BCHER-KVA.example", want: "xn--bcher-kva.example"},
		{in: "ab--c.example", err: "invalid label"}, // reserved: hyphens in third and fourth place
		{in: "ab--.example", err: "invalid label"},
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
// the IDNA Lookup profile returns for it, so the fast path changes no
// answer.
func FuzzToASCIIHost(f *testing.F) {
	for _, s := range []string{"example.com", "MX.Example.COM.", "ab--c.example", "xn--bcher-kva.example", "a-.b", "1.2", "a..b", "bücher.example", "a_b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := toASCIIHost(s)
		h := strings.TrimSuffix(s, ".")
		if ok, _, _ := scanLDHName(h); ok && len(h) <= 253 {
			want, werr := idna.Lookup.ToASCII(h)
			if err != nil || werr != nil || got != want {
				t.Fatalf("toASCIIHost(%q) = %q, %v; IDNA Lookup gives %q, %v", s, got, err, want, werr)
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
