package mtasts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

func FuzzParsePolicy(f *testing.F) {
	for _, tc := range policyCases {
		f.Add([]byte(tc.in))
	}
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(benchPolicy))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		dp, diags, derr := DiagnosePolicy(data)
		for _, d := range diags {
			if d.Line < 1 || d.Column < 1 || d.Message == "" || (d.Severity != SeverityError && d.Severity != SeverityWarning) {
				t.Fatalf("bad diagnostic %#v", d)
			}
		}
		if err != nil {
			var se *SyntaxError
			if p != nil || !errors.Is(err, ErrInvalidPolicy) || !errors.As(err, &se) || se.Line < 1 || se.Column < 1 || se.Msg == "" {
				t.Fatalf("ParsePolicy = %#v, %#v", p, err)
			}
		} else {
			// Round trip: parse, write, parse again: the same policy.
			checkRoundTrip(t, p)
			if derr != nil || !reflect.DeepEqual(p, dp) {
				t.Fatalf("strict parse gave %#v, diagnosing parse %#v, %v", p, dp, derr)
			}
		}
		if derr != nil {
			if dp != nil || !errors.Is(derr, ErrInvalidPolicy) || len(diags) == 0 {
				t.Fatalf("DiagnosePolicy = %#v, %v, %v", dp, diags, derr)
			}
			return
		}
		for _, d := range diags {
			if d.Severity != SeverityWarning {
				t.Fatalf("DiagnosePolicy succeeded with an error diagnostic %v", d)
			}
		}
		checkRoundTrip(t, dp)
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, tc := range recordCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := ParseRecord(txt)
		if err != nil {
			var se *SyntaxError
			if r != nil || !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &se) || se.Line != 1 ||
				se.Column < 1 || se.Column > utf8.RuneCountInString(txt)+1 {
				t.Fatalf("ParseRecord(%q) = %#v, %#v", txt, r, err)
			}
			return
		}
		// Round trip: parse, write, parse again: the same record.
		checkRecordRoundTrip(t, txt)
		if len(r.ID) < 1 || len(r.ID) > 32 {
			t.Fatalf("ParseRecord(%q) returned id %q", txt, r.ID)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.pattern, tc.host)
	}
	f.Add("*.mail.example.net", "MX7.Mail.Example.NET")
	f.Add("*.example.com", "*.example.com")
	f.Add("a.example", "a.example..")
	f.Add("MAIL.Example.COM.", "mail.example.com")
	f.Add("ĳ.example", "ij.example") // a U-label pattern that maps to plain ASCII
	f.Fuzz(func(t *testing.T, pattern, host string) {
		got := (&Policy{MX: []string{pattern}}).Match(host)
		pat, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		if again, err := ParsePattern(string(pat)); err != nil || again != pat {
			t.Fatalf("ParsePattern(%q) = %q, %v; want %q", pat, again, err, pat)
		}
		if pat.Match(host) != got {
			t.Fatalf("Pattern(%q).Match(%q) = %v, but a policy with %q says %v", pat, host, !got, pattern, got)
		}
		if isASCII(host) && got != referenceMatch(string(pat), host) {
			t.Fatalf("Pattern(%q).Match(%q) = %v, the reference says %v", pat, host, got, !got)
		}
	})
}
