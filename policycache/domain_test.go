package policycache

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpsec/smtpsec/mtasts"
)

func TestNormalDomain(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		in, want string // want "" means ErrInvalidDomain
	}{
		{"example.com", "example.com"},
		{"EXAMPLE.Com", "example.com"},
		{"example.com.", "example.com"},
		{"mail.example.com", "mail.example.com"}, // never the parent (RFC 8461 §3.4)
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example.", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"localhost", "localhost"},
		{"a-b.example", "a-b.example"},
		{"ab--c.example", "ab--c.example"}, // LDH, not an A-label: as mtasts.NormalizeDomain
		{long + ".example", long + ".example"},
		{"", ""},
		{".", ""},
		{"a..example", ""},
		{".example", ""},
		{"-a.example", ""},
		{"a-.example", ""},
		{"a_b.example", ""},
		{"a b.example", ""},
		{"example.com/x", ""},
		{"user@example.com", ""},
		{"[192.0.2.1]", ""},
		{"xn--a.example", ""}, // bad punycode
		{long + "a.example", ""},
		{strings.Repeat("a.", 127) + "ab", ""},
	}
	for _, tt := range tests {
		got, err := normalDomain(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalidDomain) || !errors.Is(err, mtasts.ErrInvalidDomain) {
				t.Errorf("normalDomain(%q) = %q, %v; want ErrInvalidDomain", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalDomainDoesNotAllocate(t *testing.T) {
	d := strings.Clone("mail.example.com")
	if n := testing.AllocsPerRun(100, func() { _, _ = normalDomain(d) }); n != 0 {
		t.Errorf("%v allocations for a normal domain", n)
	}
}
