package escape

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"example.com", `"example.com"`},
		{"a\nb\x1b[31m", `"a\nb\x1b[31m"`},
		{"\xff", `"\xff"`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		{strings.Repeat("a", 65), `"` + strings.Repeat("a", 64) + `"...`},
		// A two-byte character across the cut is not split.
		{strings.Repeat("a", 63) + "é" + "z", `"` + strings.Repeat("a", 63) + `"...`},
	} {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%.20q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzQuote: the result is bounded whatever the input, and printable.
func FuzzQuote(f *testing.F) {
	f.Add("example.com")
	f.Add(strings.Repeat("\x01", 1000))
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		// Every byte becomes at most 4 (\xNN), plus quotes and "...".
		if len(q) > 4*MaxQuoted+5 {
			t.Fatalf("Quote of %d bytes gave %d bytes", len(s), len(q))
		}
		if !utf8.ValidString(q) || strings.ContainsAny(q, "\n\r\x1b\x00") {
			t.Fatalf("Quote(%q) = %q is not safe to print", s, q)
		}
	})
}

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"mx.example.com", "mx.example.com"},
		{"victim.example: READY\nx\x1b[2J", `victim.example: READY\nx\x1b[2J`},
		{`a\nb`, `a\\nb`},
		{"\xff\u202e\u0085é", `\xff\u202e\u0085é`},
		{strings.Repeat("é", 300), strings.Repeat("é", 300)},
	} {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzText: the result is bounded whatever the input, and printable.
func FuzzText(f *testing.F) {
	f.Add("example.com")
	f.Add("a\n\x1b[31m\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		q := Text(s)
		if len(q) > 6*len(s) {
			t.Fatalf("Text of %d bytes gave %d bytes", len(s), len(q))
		}
		if !utf8.ValidString(q) || strings.ContainsAny(q, "\n\r\x1b\x00\u202e\u0085") {
			t.Fatalf("Text(%q) = %q is not safe to print", s, q)
		}
	})
}

func ExampleText() {
	fmt.Println(Text("victim.example: READY\n\x1b[2J"))
	// Output: victim.example: READY\n\x1b[2J
}
