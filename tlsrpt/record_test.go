package tlsrpt

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func uris(rec *Record) []string {
	var out []string
	for _, u := range rec.RUA {
		out = append(out, u.String())
	}
	return out
}

func TestParseRecordValid(t *testing.T) {
	tests := []struct {
		txt  string
		rua  []string
		ext  []Extension
		text string // String(), when it differs from the input
	}{
		// SPEC.md tricky inputs.
		{txt: "v=TLSRPTv1;rua=mailto:reports@example.com", rua: []string{"mailto:reports@example.com"},
			text: "v=TLSRPTv1; rua=mailto:reports@example.com"},
		{txt: "v=TLSRPTv1; rua=mailto:a@x.example , https://r.example/v1",
			rua:  []string{"mailto:a@x.example", "https://r.example/v1"},
			text: "v=TLSRPTv1; rua=mailto:a@x.example,https://r.example/v1"},
		{txt: "v=TLSRPTv1; rua=http://reports.example/v1", rua: []string{"http://reports.example/v1"}},
		// Delimiters: white space around ";" and ",", a final ";".
		{txt: "v=TLSRPTv1 ; rua=mailto:a@example.com ;", rua: []string{"mailto:a@example.com"},
			text: "v=TLSRPTv1; rua=mailto:a@example.com"},
		{txt: "v=TLSRPTv1;\trua=mailto:a@example.com;\t", rua: []string{"mailto:a@example.com"},
			text: "v=TLSRPTv1; rua=mailto:a@example.com"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com,mailto:b@example.com", rua: []string{"mailto:a@example.com", "mailto:b@example.com"}},
		// rua more than once: merged.
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example/x",
			rua: []string{"mailto:a@example.com", "https://r.example/x"}, text: "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x"},
		// Extensions are kept in order.
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; foo_bar=baz; x.y-z=1,2:3",
			rua: []string{"mailto:a@example.com"}, ext: []Extension{{"foo_bar", "baz"}, {"x.y-z", "1,2:3"}}},
		{txt: "v=TLSRPTv1; ext=1; rua=mailto:a@example.com",
			rua: []string{"mailto:a@example.com"}, ext: []Extension{{"ext", "1"}}, text: "v=TLSRPTv1; rua=mailto:a@example.com; ext=1"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; " + strings.Repeat("n", 32) + "=v",
			rua: []string{"mailto:a@example.com"}, ext: []Extension{{strings.Repeat("n", 32), "v"}}},
		// "RUA" is not rua (case-sensitive): an extension.
		{txt: "v=TLSRPTv1; RUA=mailto:x@example.com; rua=mailto:a@example.com",
			rua: []string{"mailto:a@example.com"}, ext: []Extension{{"RUA", "mailto:x@example.com"}},
			text: "v=TLSRPTv1; rua=mailto:a@example.com; RUA=mailto:x@example.com"},
		// URIs: percent-encoded "!", "," and ";"; query; port; upper-case scheme; IP literal.
		{txt: "v=TLSRPTv1; rua=https://r.example:8443/tls%2Crpt?id=1#f", rua: []string{"https://r.example:8443/tls%2Crpt?id=1#f"}},
		{txt: "v=TLSRPTv1; rua=HTTPS://R.Example/v1", rua: []string{"https://R.Example/v1"},
			text: "v=TLSRPTv1; rua=https://R.Example/v1"},
		{txt: "v=TLSRPTv1; rua=https://[2001:db8::1]/r", rua: []string{"https://[2001:db8::1]/r"}},
		{txt: "v=TLSRPTv1; rua=https://192.0.2.1/r", rua: []string{"https://192.0.2.1/r"}},
		{txt: "v=TLSRPTv1; rua=mailto:tls.rpt+x@example.com?subject=tls", rua: []string{"mailto:tls.rpt+x@example.com?subject=tls"}},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.net", rua: []string{"mailto:a@example.com%2Cb@example.net"}},
		{txt: "v=TLSRPTv1; rua=mailto:%22a%20b%22@example.com", rua: []string{"mailto:%22a%20b%22@example.com"}},
		// Other schemes are kept (and not usable).
		{txt: "v=TLSRPTv1; rua=urn:example:reports", rua: []string{"urn:example:reports"}},
	}
	for _, tt := range tests {
		rec, err := ParseRecord(tt.txt)
		if err != nil {
			t.Errorf("ParseRecord(%q): %v", tt.txt, err)
			continue
		}
		if got := uris(rec); !reflect.DeepEqual(got, tt.rua) {
			t.Errorf("ParseRecord(%q).RUA = %q, want %q", tt.txt, got, tt.rua)
		}
		if !reflect.DeepEqual(rec.Extensions, tt.ext) {
			t.Errorf("ParseRecord(%q).Extensions = %q, want %q", tt.txt, rec.Extensions, tt.ext)
		}
		want := tt.text
		if want == "" {
			want = tt.txt
		}
		if got := rec.String(); got != want {
			t.Errorf("ParseRecord(%q).String() = %q, want %q", tt.txt, got, want)
		}
		again, err := ParseRecord(rec.String())
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Errorf("ParseRecord(%q) does not round-trip: %+v, %v", rec.String(), again, err)
		}
	}
}

func TestParseRecordInvalid(t *testing.T) {
	tests := []struct {
		txt    string
		column int
		msg    string // part of the message
	}{
		// SPEC.md tricky inputs.
		{"v=TLSRPTv1;", 12, "no rua"},
		{"v=TLSRPTv1; rua=", 17, "empty URI"},
		{"v=TLSRPTv1; rua=noscheme", 17, "no scheme"},
		{"v=TLSRPTv1; rua=mailto:a@example.com!10m", 37, `"!" must be percent-encoded`},
		// Encoded, the "!10m" becomes part of the address, which is then invalid.
		{"v=TLSRPTv1; rua=mailto:a@example.com%2110m", 24, "not a valid email address"},
		{"v=tlsrptv1; rua=mailto:a@example.com", 1, "does not start with v=TLSRPTv1"},
		// Version and delimiters.
		{"v=TLSRPTv1", 11, "no rua"},
		{" v=TLSRPTv1; rua=mailto:a@example.com", 1, "does not start"},
		{"v=TLSRPTv10; rua=mailto:a@example.com", 11, `unexpected '0'`},
		{"v=TLSRPTv1 rua=mailto:a@example.com", 12, `unexpected 'r'`},
		{"v=TLSRPTv1;; rua=mailto:a@example.com", 12, "must start with a letter or digit"},
		{"v=TLSRPTv1; rua=mailto:a@example.com ", 37, "white space after the last field"},
		{"v=TLSRPTv1; rua= mailto:a@example.com", 17, "empty URI"},
		{"v=TLSRPTv1; rua=mailto:a@example.com,", 38, "empty URI"},
		{"v=TLSRPTv1; rua=mailto:a@example.com , ", 40, "empty URI"},
		{"v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com", 38, "empty URI"},
		{"v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com", 38, `unexpected 'm'`},
		// Extensions.
		{"v=TLSRPTv1; rua=mailto:a@example.com; x=", 41, "empty value"},
		{"v=TLSRPTv1; rua=mailto:a@example.com; x", 40, `without "="`},
		{"v=TLSRPTv1; rua=mailto:a@example.com; x=1=2", 42, `invalid character '='`},
		{"v=TLSRPTv1; rua=mailto:a@example.com; x=a b", 43, `unexpected 'b'`},
		{"v=TLSRPTv1; rua=mailto:a@example.com; x=é", 41, "invalid character 'é' (not US-ASCII) in the value"},
		{"v=TLSRPTv1; rua=mailto:a@example.com; _x=1", 39, "must start with a letter or digit"},
		{"v=TLSRPTv1; rua=mailto:a@example.com; " + strings.Repeat("n", 33) + "=v", 39, "longer than 32"},
		{"v=TLSRPTv1; x=1", 16, "no rua"},
		// URIs.
		{"v=TLSRPTv1; rua=mailto:", 24, "not a valid email address"},
		{"v=TLSRPTv1; rua=mailto:not-an-address", 24, "not a valid email address"},
		{"v=TLSRPTv1; rua=mailto:a@b", 24, "not a valid email address"},
		{"v=TLSRPTv1; rua=mailto:a..b@example.com", 24, "not a valid email address"},
		{"v=TLSRPTv1; rua=mailto:a@-x.example", 24, "not a valid email address"},
		{"v=TLSRPTv1; rua=mailto:a@ex%ample.com", 28, `"%" not followed by two hexadecimal digits`},
		{"v=TLSRPTv1; rua=mailto:a@exämple.com", 28, "invalid character 'ä'"},
		{"v=TLSRPTv1; rua=https://", 25, "not a valid host"},
		{"v=TLSRPTv1; rua=https:reports.example", 23, "not a valid host"},
		{"v=TLSRPTv1; rua=https://r.example:x/", 25, "not a valid host"},
		{"v=TLSRPTv1; rua=https://r_x.example/", 25, "not a valid host"},
		{"v=TLSRPTv1; rua=https://r.example/a b", 37, `unexpected 'b'`},
		{"v=TLSRPTv1; rua=https://r.example/<x>", 35, "invalid character '<'"},
		{"v=TLSRPTv1; rua=1http://r.example/", 17, "does not start with a scheme"},
	}
	for _, tt := range tests {
		rec, err := ParseRecord(tt.txt)
		if err == nil {
			t.Errorf("ParseRecord(%q) = %v, want an error", tt.txt, rec)
			continue
		}
		if !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("ParseRecord(%q) error %v does not match ErrInvalidRecord", tt.txt, err)
		}
		var re *RecordError
		if !errors.As(err, &re) {
			t.Errorf("ParseRecord(%q) error %T is not a *RecordError", tt.txt, err)
			continue
		}
		if re.Line != 1 || re.Column != tt.column || !strings.Contains(re.Msg, tt.msg) || re.Record != tt.txt {
			t.Errorf("ParseRecord(%q) = column %d %q, want column %d containing %q", tt.txt, re.Column, re.Msg, tt.column, tt.msg)
		}
	}
}

func TestSelectRecord(t *testing.T) {
	const rec = "v=TLSRPTv1; rua=mailto:a@example.com"
	tests := []struct {
		name string
		txts []string
		want string // the RUA of the selected record, or ""
		err  error
	}{
		{"one", []string{rec}, "mailto:a@example.com", nil},
		{"others discarded", []string{"v=spf1 -all", rec, "google-site-verification=x"}, "mailto:a@example.com", nil},
		{"space before the semicolon", []string{"v=TLSRPTv1 ;rua=mailto:b@example.com"}, "mailto:b@example.com", nil},
		{"none", nil, "", ErrNoRecord},
		{"only others", []string{"v=spf1 -all"}, "", ErrNoRecord},
		{"lower case is discarded", []string{"v=tlsrptv1; rua=mailto:a@example.com"}, "", ErrNoRecord},
		{"a longer version is discarded", []string{"v=TLSRPTv10; rua=mailto:a@example.com"}, "", ErrNoRecord},
		{"leading space is discarded", []string{" v=TLSRPTv1; rua=mailto:a@example.com"}, "", ErrNoRecord},
		{"no semicolon is discarded", []string{"v=TLSRPTv1"}, "", ErrNoRecord},
		{"two", []string{rec, "v=TLSRPTv1; rua=mailto:b@example.com"}, "", ErrMultipleRecords},
		{"two, one invalid", []string{rec, "v=TLSRPTv1;"}, "", ErrMultipleRecords},
		{"the one left is invalid", []string{"v=TLSRPTv1;", "v=spf1 -all"}, "", ErrInvalidRecord},
		// A record split into strings arrives concatenated without spaces.
		{"split strings", []string{"v=TLSRPTv1; rua=mailto:a@exa" + "mple.com"}, "mailto:a@example.com", nil},
	}
	for _, tt := range tests {
		got, err := SelectRecord(tt.txts)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: SelectRecord error = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: SelectRecord: %v", tt.name, err)
			continue
		}
		if s := strings.Join(uris(got), ","); s != tt.want {
			t.Errorf("%s: SelectRecord RUA = %q, want %q", tt.name, s, tt.want)
		}
	}
}

func TestDestinations(t *testing.T) {
	rec, err := ParseRecord("v=TLSRPTv1; rua=http://r.example/a,mailto:a@example.com,ftp://f.example/,https://r.example/b")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range rec.Destinations() {
		got = append(got, u.String())
	}
	want := []string{"mailto:a@example.com", "https://r.example/b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Destinations() = %q, want %q", got, want)
	}
	if n := len(rec.RUA); n != 4 {
		t.Errorf("RUA has %d URIs, want all 4", n)
	}
	only, err := ParseRecord("v=TLSRPTv1; rua=http://r.example/a")
	if err != nil {
		t.Fatal(err)
	}
	if d := only.Destinations(); len(d) != 0 {
		t.Errorf("Destinations() of an http-only record = %v, want none", d)
	}
}

// The URLs ParseRecord builds itself must be those url.Parse returns.
func TestParseRecordURLsMatchURLParse(t *testing.T) {
	for _, s := range []string{
		"mailto:a@example.com", "mailto:first.last+tag@sub.example.co.uk",
		"https://r.example", "https://r.example/", "https://r.example:443/v1/tls-rpt",
		"https://R.EXAMPLE/a/b~c_d.e/$&+=:@",
	} {
		rec, err := ParseRecord("v=TLSRPTv1; rua=" + s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		want, _ := url.Parse(s)
		if !reflect.DeepEqual(rec.RUA[0], want) {
			t.Errorf("%s: got %#v, want %#v", s, rec.RUA[0], want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=TLSRPTv1;rua=mailto:reports@example.com",
		"v=TLSRPTv1; rua=mailto:a@x.example , https://r.example/v1",
		"v=TLSRPTv1; rua=http://r.example/; ext=1;",
		"v=TLSRPTv1; rua=https://[2001:db8::1]:8443/p%20q?x#y",
		"v=TLSRPTv1; rua=mailto:%22a%20b%22@example.com?subject=x",
		"v=TLSRPTv1; rua=mailto:a@example.com!10m",
		"v=TLSRPTv1;", "v=TLSRPTv1 ; rua=urn:x:y ; RUA=z",
		"mailto:a@b.example", "https://h.example:1/p/q", "https://u@h/p", "mailto:/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		// A rua URI alone: the URL built without url.Parse is the one
		// url.Parse returns.
		var u url.URL
		if end, _, msg := parseReportURI(txt, 0, &u); msg == "" {
			want, err := url.Parse(txt[:end])
			if err != nil || !reflect.DeepEqual(&u, want) {
				t.Fatalf("parseReportURI(%q) = %#v, url.Parse gives %#v (%v)", txt[:end], u, want, err)
			}
		}
		rec, err := ParseRecord(txt)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord(%q) error %v does not match ErrInvalidRecord", txt, err)
			}
			return
		}
		if len(rec.RUA) == 0 {
			t.Fatalf("ParseRecord(%q) has no RUA", txt)
		}
		// Round trip: parse -> String -> parse is identical.
		s := rec.String()
		again, err := ParseRecord(s)
		if err != nil {
			t.Fatalf("ParseRecord(%q).String() = %q does not parse: %v", txt, s, err)
		}
		if !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip of %q via %q:\n got %#v\nwant %#v", txt, s, again, rec)
		}
		if again.String() != s {
			t.Fatalf("String not stable: %q then %q", s, again.String())
		}
		// Every URL is what url.Parse makes of its text.
		for _, u := range rec.RUA {
			want, err := url.Parse(u.String())
			if err != nil || !reflect.DeepEqual(u, want) {
				t.Fatalf("URL %q: got %#v, url.Parse gives %#v (%v)", u, u, want, err)
			}
		}
		if sel, err := SelectRecord([]string{txt}); isCandidate(txt) && (err != nil || !reflect.DeepEqual(sel, rec)) {
			t.Fatalf("SelectRecord([%q]) = %v, %v", txt, sel, err)
		}
	})
}

// BenchmarkParseRecord parses a record with two rua URIs. Target: under
// 300 ns/op.
func BenchmarkParseRecord(b *testing.B) {
	const txt = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.net/v1/tlsrpt"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(txt); err != nil {
			b.Fatal(err)
		}
	}
}
