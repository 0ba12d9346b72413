package policycache

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
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
		{long + "a.example", ""},
		{strings.Repeat("a.", 127) + "ab", ""},
	}
	for _, tt := range tests {
		got, err := normalizeDomain(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Errorf("normalizeDomain(%q) = %q, %v; want ErrInvalidDomain", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if err := checkIDNA("xn--a.example"); !errors.Is(err, ErrInvalidDomain) {
		t.Errorf("checkIDNA of bad punycode: %v", err)
	}
}

func TestNormalizeDomainDoesNotAllocate(t *testing.T) {
	d := strings.Clone("mail.example.com")
	if n := testing.AllocsPerRun(100, func() { normalizeDomain(d) }); n != 0 {
		t.Errorf("%v allocations for a normal domain", n)
	}
}
