package mtasts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Building blocks of test policies; V is the "version: STSv1" line of SPEC.md.
const (
	tV = "version: STSv1\n"
	tM = "mode: enforce\n"
	tX = "mx: mail.example.com\n"
	tA = "max_age: 86400\n"
)

func pol(mode Mode, maxAgeSecs int, mx ...string) *Policy {
	p := &Policy{Mode: mode, MaxAge: time.Duration(maxAgeSecs) * time.Second}
	if len(mx) > 0 {
		p.MX = mx
	}
	return p
}

func withExt(p *Policy, kv ...string) *Policy {
	for i := 0; i < len(kv); i += 2 {
		p.Extensions = append(p.Extensions, Extension{Name: kv[i], Value: kv[i+1]})
	}
	return p
}

// policyCase is one row of the strict parsing table. Either want is set, or
// the parse fails at line/col with a message containing msg.
type policyCase struct {
	name      string
	in        string
	want      *Policy
	line, col int
	msg       string
}

var enforceMail = pol(ModeEnforce, 86400, "mail.example.com")

func mxCase(name, value string, col int, msg string) policyCase {
	return policyCase{name: name, in: tV + tM + "mx: " + value + "\n" + tA, line: 3, col: col, msg: msg}
}

func maxAgeCase(name, value string, want *Policy, col int, msg string) policyCase {
	return policyCase{name: name, in: tV + tM + tX + "max_age: " + value + "\n", want: want, line: 4, col: col, msg: msg}
}

var policyCases = []policyCase{
	// RFC 8461 §3.2's example.
	{name: "RFC 8461 example", in: "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
		want: pol(ModeEnforce, 604800, "mail.example.com", "*.example.net", "backupmx.example.com")},

	// Line endings.
	{name: "LF endings", in: tV + tM + tX + tA, want: enforceMail},
	{name: "CRLF without final newline", in: "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400", want: enforceMail},
	{name: "mixed CRLF and LF", in: "version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmax_age: 86400\n", want: enforceMail},
	{name: "bare CR as separator", in: "version: STSv1\rmode: enforce\rmx: mail.example.com\rmax_age: 86400\r", line: 1, col: 15, msg: "carriage return"},
	{name: "bare CR after the last field", in: tV + tM + tX + "max_age: 86400\r", line: 4, col: 15, msg: "carriage return"},
	{name: "CR CR LF", in: tV + "mode: enforce\r\r\n" + tX + tA, line: 2, col: 14, msg: "carriage return"},

	// Whitespace.
	{name: "trailing space and tab", in: tV + "mode: enforce \t\n" + tX + tA, want: enforceMail},
	{name: "leading space", in: tV + " mode: enforce\n" + tX + tA, line: 2, col: 1, msg: "begins with a space"},
	{name: "leading tab", in: tV + "\tmode: enforce\n" + tX + tA, line: 2, col: 1, msg: "begins with a tab"},
	{name: "space before colon", in: tV + "mode : enforce\n" + tX + tA, line: 2, col: 5, msg: "whitespace between the field name and \":\""},
	{name: "no space after colon", in: tV + "mode:enforce\n" + tX + tA, want: enforceMail},
	{name: "tab after colon", in: tV + "mode:\tenforce\n" + tX + tA, want: enforceMail},
	{name: "several spaces after colon", in: tV + "mode:    enforce\n" + tX + tA, want: enforceMail},
	{name: "no colon", in: "version STSv1\n" + tM + tX + tA, line: 1, col: 8, msg: "space is not allowed in a field name"},
	{name: "name alone", in: tV + "mode\n" + tX + tA, line: 2, col: 5, msg: "missing \":\""},
	{name: "line without name", in: tV + ": enforce\n" + tX + tA, line: 2, col: 1, msg: "missing field name before \":\""},
	{name: "line starting with a symbol", in: tV + "#mode: enforce\n" + tX + tA, line: 2, col: 1, msg: `unexpected "#"; expected a field name`},

	// Blank lines and BOM (accepted only by DiagnosePolicy, see diagnose_test.go).
	{name: "blank line between fields", in: tV + "\n" + tM + tX + tA, line: 2, col: 1, msg: "blank line between fields"},
	{name: "whitespace-only line between fields", in: tV + " \t\n" + tM + tX + tA, line: 2, col: 1, msg: "blank line between fields"},
	{name: "two final line endings", in: tV + tM + tX + tA + "\n", line: 5, col: 1, msg: "blank line at the end"},
	{name: "two final CRLF", in: "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n\r\n", line: 5, col: 1, msg: "blank line at the end"},
	{name: "BOM", in: "\uFEFF" + tV + tM + tX + tA, line: 1, col: 1, msg: "byte order mark"},
	{name: "empty input", in: "", line: 1, col: 1, msg: "version is missing"},
	{name: "only a line break", in: "\n", line: 1, col: 1, msg: "blank line at the end"},

	// Required fields.
	{name: "no max_age", in: tV + tM + tX, line: 4, col: 1, msg: "max_age is missing"},
	{name: "no version", in: tM + tX + tA, line: 4, col: 1, msg: "version is missing"},
	{name: "no mode", in: tV + tX + tA, line: 4, col: 1, msg: "mode is missing"},
	{name: "version STSv2", in: "version: STSv2\n" + tM + tX + tA, line: 1, col: 10, msg: `not "STSv2"`},
	{name: "version stsv1", in: "version: stsv1\n" + tM + tX + tA, line: 1, col: 10, msg: `not "stsv1"`},
	{name: "version empty", in: "version:\n" + tM + tX + tA, line: 1, col: 9, msg: "version has no value"},
	{name: "mode Enforce", in: tV + "mode: Enforce\n" + tX + tA, line: 2, col: 7, msg: `not "Enforce"`},
	{name: "mode strict", in: tV + "mode: strict\n" + tX + tA, line: 2, col: 7, msg: "enforce, testing or none"},
	{name: "mode empty", in: tV + "mode: \n" + tX + tA, line: 2, col: 7, msg: "mode has no value"},
	{name: "Mode is an extension, so mode is missing", in: tV + "Mode: enforce\n" + tX + tA, line: 2, col: 1, msg: "did you mean mode?"},
	{name: "enforce without mx", in: tV + tM + tA, line: 4, col: 1, msg: "mode enforce requires at least one mx"},
	{name: "testing without mx", in: tV + "mode: testing\n" + tA, line: 4, col: 1, msg: "mode testing requires at least one mx"},
	{name: "none without mx", in: tV + "mode: none\n" + tA, want: pol(ModeNone, 86400)},
	{name: "none with mx", in: tV + "mode: none\n" + tX + tA, want: pol(ModeNone, 86400, "mail.example.com")},

	// Duplicates: the first counts, but all must be valid.
	{name: "mode testing then enforce", in: tV + "mode: testing\n" + tM + tX + tA, want: pol(ModeTesting, 86400, "mail.example.com")},
	{name: "duplicate mode invalid", in: tV + tM + "mode: strict\n" + tX + tA, line: 3, col: 7, msg: "enforce, testing or none"},
	{name: "two version lines", in: tV + tV + tM + tX + tA, want: enforceMail},
	{name: "duplicate version invalid", in: tV + tM + "version: STSv2\n" + tX + tA, line: 3, col: 10, msg: "version must be STSv1"},
	{name: "max_age first counts", in: tV + tM + tX + "max_age: 100\nmax_age: 200\n", want: pol(ModeEnforce, 100, "mail.example.com")},
	{name: "duplicate max_age invalid", in: tV + tM + tX + tA + "max_age: x\n", line: 5, col: 10, msg: "digits only"},
	{name: "three mx in order", in: tV + tM + "mx: a.example.com\nmx: *.b.example.com\nmx: c.example.com\n" + tA,
		want: pol(ModeEnforce, 86400, "a.example.com", "*.b.example.com", "c.example.com")},
	{name: "fields in any order", in: tA + tX + "note: x\n" + tM + tV, want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "note", "x")},
	{name: "mx interleaved", in: "mx: a.example.com\n" + tV + "mx: b.example.com\n" + tM + tA + "mx: c.example.com",
		want: pol(ModeEnforce, 86400, "a.example.com", "b.example.com", "c.example.com")},

	// mx values.
	mxCase("mx list with comma", "a.example.com, b.example.com", 18, "an mx field holds one host name"),
	mxCase("mx list with space", "a.example.com b.example.com", 18, "an mx field holds one host name"),
	mxCase("mx wildcard in the middle", "mail.*.example.com", 10, "whole left-most label"),
	mxCase("mx lone wildcard", "*", 5, "lone"),
	mxCase("mx wildcard dot only", "*.", 7, "must be followed by a domain"),
	mxCase("mx double wildcard", "**.example.com", 6, "whole left-most label"),
	mxCase("mx wildcard without dot", "*example.com", 6, "whole left-most label"),
	mxCase("mx wildcard as second label", "*.*.example.com", 7, "whole left-most label"),
	mxCase("mx underscore", "_mx.example.com", 5, `"_" is not allowed`),
	mxCase("mx leading hyphen", "-mx.example.com", 5, "hyphen"),
	mxCase("mx trailing hyphen in label", "mx-.example.com", 5, "hyphen"),
	mxCase("mx address literal", "[192.0.2.1]", 5, "address literal"),
	mxCase("mx IPv4 address", "192.0.2.1", 5, "is an IP address"),
	mxCase("mx IPv6 address", "2001:db8::25", 5, "is an IP address"),
	mxCase("mx numeric last label", "mail.example.123", 18, "all digits"),
	mxCase("mx U-label", "mäil.example.com", 6, "U-labels"),
	mxCase("mx port", "mx.example.com:25", 19, "port"),
	mxCase("mx trailing dot", "mail.example.com.", 21, "trailing dot"),
	mxCase("mx leading dot", ".example.com", 5, "begins with a dot"),
	mxCase("mx empty label", "mail..example.com", 10, "two dots"),
	mxCase("mx empty", "", 5, "no host name"),
	mxCase("mx bad punycode", "xn--zz.example.com", 5, "not a valid A-label"),
	mxCase("mx empty punycode", "xn--.example.com", 5, "not a valid A-label"),
	mxCase("mx label of 64", strings.Repeat("a", 64)+".example.com", 5, "at most 63"),
	mxCase("mx slash", "mail.example.com/x", 21, `"/" is not allowed`),
	{name: "mx upper case stored lower", in: tV + tM + "mx: MAIL.Example.COM\n" + tA, want: enforceMail},
	{name: "mx A-label", in: tV + tM + "mx: mx.XN--BCHER-KVA.example\n" + tA, want: pol(ModeEnforce, 86400, "mx.xn--bcher-kva.example")},
	{name: "mx label of 63", in: tV + tM + "mx: " + strings.Repeat("a", 63) + ".example.com\n" + tA, want: pol(ModeEnforce, 86400, strings.Repeat("a", 63)+".example.com")},
	{name: "mx single label", in: tV + tM + "mx: localhost\n" + tA, want: pol(ModeEnforce, 86400, "localhost")},
	{name: "mx digits inside", in: tV + tM + "mx: 1mx.123.example.com\n" + tA, want: pol(ModeEnforce, 86400, "1mx.123.example.com")},

	// Extensions.
	{name: "extension with space in value", in: tV + tM + tX + tA + "foo_bar: baz qux\n", want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "foo_bar", "baz qux")},
	{name: "extension UTF-8", in: tV + tM + tX + tA + "note: café\n", want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "note", "café")},
	{name: "extension name of 32", in: tV + tM + tX + tA + strings.Repeat("e", 32) + ": 1\n", want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), strings.Repeat("e", 32), "1")},
	{name: "extensions kept in order", in: tV + "z: 1\n" + tM + "a.b-c_d: x:y\n" + tX + tA + "0: last  \t\n",
		want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "z", "1", "a.b-c_d", "x:y", "0", "last")},
	{name: "extension empty value", in: tV + tM + tX + tA + "foo:\n", line: 5, col: 5, msg: "foo has no value"},
	{name: "extension blank value", in: tV + tM + tX + tA + "foo:   \n", line: 5, col: 8, msg: "foo has no value"},
	{name: "extension name of 33", in: tV + tM + tX + tA + strings.Repeat("e", 33) + ": 1\n", line: 5, col: 33, msg: "at most 32"},
	{name: "extension name with underscore first", in: tV + tM + tX + tA + "_x: y\n", line: 5, col: 1, msg: "must begin with a letter or digit"},
	{name: "extension name with hyphen first", in: tV + tM + tX + tA + "-x: y\n", line: 5, col: 1, msg: "must begin with a letter or digit"},
	{name: "extension name non-ASCII", in: tV + tM + tX + tA + "mödus: y\n", line: 5, col: 2, msg: "not allowed in a field name"},
	{name: "extension value with tab", in: tV + tM + tX + tA + "foo: a\tb\n", line: 5, col: 7, msg: "tab is not allowed"},
	{name: "extension value with control", in: tV + tM + tX + tA + "foo: a\x00b\n", line: 5, col: 7, msg: "U+0000"},
	{name: "extension value with DEL", in: tV + tM + tX + tA + "foo: a\x7f\n", line: 5, col: 7, msg: "U+007F"},
	{name: "extension value not UTF-8", in: tV + tM + tX + tA + "foo: caf\xe9\n", line: 5, col: 9, msg: "not valid UTF-8"},
	{name: "column counts characters", in: tV + tM + tX + tA + "note: é\x01\n", line: 5, col: 8, msg: "U+0001"},

	// max_age.
	maxAgeCase("max_age at limit", "31557600", pol(ModeEnforce, 31557600, "mail.example.com"), 0, ""),
	maxAgeCase("max_age above limit is clamped", "31557601", pol(ModeEnforce, 31557600, "mail.example.com"), 0, ""),
	maxAgeCase("max_age ten nines is clamped", "9999999999", pol(ModeEnforce, 31557600, "mail.example.com"), 0, ""),
	maxAgeCase("max_age leading zeros", "0000086400", pol(ModeEnforce, 86400, "mail.example.com"), 0, ""),
	maxAgeCase("max_age zero", "0", pol(ModeEnforce, 0, "mail.example.com"), 0, ""),
	maxAgeCase("max_age 11 digits", "00000086400", nil, 10, "11 digits"),
	maxAgeCase("max_age negative", "-1", nil, 10, "cannot be negative"),
	maxAgeCase("max_age plus sign", "+86400", nil, 10, `"+" is not allowed`),
	maxAgeCase("max_age unit", "86400s", nil, 15, `"s" is not allowed`),
	maxAgeCase("max_age exponent", "1e5", nil, 11, `"e" is not allowed`),
	maxAgeCase("max_age empty", "", nil, 10, "no value"),
	maxAgeCase("max_age space inside", "86 400", nil, 12, "space is not allowed"),
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range []string{tc.in, strings.ReplaceAll(tc.in, "\n", "\r\n")} {
				if strings.Contains(tc.in, "\r") && in != tc.in {
					continue // the case is about line endings already
				}
				got, err := ParsePolicy([]byte(in))
				if tc.want != nil {
					if err != nil {
						t.Fatalf("ParsePolicy(%q): %v", in, err)
					}
					if !reflect.DeepEqual(got, tc.want) {
						t.Fatalf("ParsePolicy(%q)\n got %#v\nwant %#v", in, got, tc.want)
					}
					continue
				}
				if got != nil || err == nil {
					t.Fatalf("ParsePolicy(%q) = %#v, %v; want an error", in, got, err)
				}
				checkSyntaxError(t, err, ErrInvalidPolicy, tc.line, tc.col, tc.msg)
			}
		})
	}
}

func checkSyntaxError(t *testing.T, err, sentinel error, line, col int, msg string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(%v, %v) is false", err, sentinel)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
	}
	if se.Line != line || se.Column != col {
		t.Errorf("error %q at line %d, column %d; want line %d, column %d", err, se.Line, se.Column, line, col)
	}
	if !strings.Contains(se.Msg, msg) {
		t.Errorf("error message %q does not contain %q", se.Msg, msg)
	}
}

func TestParsePolicyMessages(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{tV + "mode: Enforce\n" + tX + tA, `mtasts: policy line 2, column 7: mode must be enforce, testing or none, not "Enforce" (write "enforce" in lower case)`},
		{tV + tM + "mx: mäil.example.com\n" + tA, `mtasts: policy line 3, column 6: mx: the host name is written in U-labels; mx values must be A-labels (punycode) (write xn--mil-qla.example.com)`},
		{tV + tM + "nmx: mail.example.com\n" + tA, `mtasts: policy line 3, column 1: unknown field nmx; did you mean mx? mode enforce requires at least one mx field (rename nmx to mx)`},
		{tV + tM + tX + "max-age: 86400\n", `mtasts: policy line 4, column 1: unknown field max-age; did you mean max_age? the required field max_age is missing (rename max-age to max_age)`},
		{tV + tM + "mx: mx.example.com:25\n" + tA, `mtasts: policy line 3, column 19: mx: a port or ":" is not allowed in a host name (remove ":25")`},
	}
	for _, tc := range tests {
		_, err := ParsePolicy([]byte(tc.in))
		if err == nil || err.Error() != tc.wantErr {
			t.Errorf("ParsePolicy(%q) error\n got %v\nwant %s", tc.in, err, tc.wantErr)
		}
	}
}

func TestPolicyMarshalText(t *testing.T) {
	p := withExt(pol(ModeTesting, 604800, "MX1.Example.com", "*.mail.example.net"), "note", "café au lait", "x", "1")
	got, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	const want = "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\nnote: café au lait\r\nx: 1\r\n"
	if string(got) != want {
		t.Errorf("MarshalText\n got %q\nwant %q", got, want)
	}
	if s := p.String(); s != want {
		t.Errorf("String\n got %q\nwant %q", s, want)
	}
	// The canonical form is the same whatever form the input had.
	in := "max_age:\t0000604800 \nx: 1\nmx: MX1.EXAMPLE.COM\nnote: café au lait\nmode: testing\r\nmx:*.mail.example.net\nversion: STSv1\nmode: enforce"
	q, err := ParsePolicy([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	q.Extensions[0], q.Extensions[1] = q.Extensions[1], q.Extensions[0]
	if s := q.String(); s != want {
		t.Errorf("String of parsed policy\n got %q\nwant %q", s, want)
	}
}

func TestPolicyMarshalTextInvalid(t *testing.T) {
	p := pol(ModeEnforce, 86400, "mäil.example.com")
	b, err := p.MarshalText()
	if err == nil || b != nil || !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("MarshalText = %q, %v; want ErrInvalidPolicy", b, err)
	}
	// String writes what it has, without validating.
	if s := p.String(); !strings.Contains(s, "mx: mäil.example.com\r\n") {
		t.Errorf("String = %q", s)
	}
}

func TestPolicyTextRoundTrip(t *testing.T) {
	for _, tc := range policyCases {
		if tc.want == nil {
			continue
		}
		p, err := ParsePolicy([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkRoundTrip(t, p)
	}
}

func checkRoundTrip(t *testing.T, p *Policy) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("parsed policy %#v does not validate: %v", p, err)
	}
	text, err := p.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText(%#v): %v", p, err)
	}
	q, err := ParsePolicy(text)
	if err != nil {
		t.Fatalf("ParsePolicy(MarshalText) = %v for %q", err, text)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip changed the policy\n got %#v\nwant %#v\ntext %q", q, p, text)
	}
	var u Policy
	if err := u.UnmarshalText(text); err != nil || !reflect.DeepEqual(&u, p) {
		t.Fatalf("UnmarshalText = %#v, %v; want %#v", u, err, p)
	}
}

func TestPolicyUnmarshalTextError(t *testing.T) {
	p := Policy{Mode: ModeTesting}
	err := p.UnmarshalText([]byte("version: STSv1\n"))
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("UnmarshalText error = %v", err)
	}
	if p.Mode != ModeTesting {
		t.Errorf("UnmarshalText changed the policy on error: %#v", p)
	}
}

func TestParsePolicySharesOneCopy(t *testing.T) {
	data := []byte(tV + tM + tX + tA)
	p, err := ParsePolicy(data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, strings.Repeat("x", len(data)))
	if p.MX[0] != "mail.example.com" {
		t.Errorf("policy changed with its input: %q", p.MX[0])
	}
}

func TestPolicyTestdata(t *testing.T) {
	type want struct {
		strict   *Policy // nil: strict parse fails
		diag     *Policy // nil: diagnosing parse fails
		warnings []int   // lines of warnings of DiagnosePolicy
		errLine  int     // line of the first error (of DiagnosePolicy, if both fail)
	}
	large := pol(ModeEnforce, 86400, "gmail-smtp-in.l.google.com", "*.gmail-smtp-in.l.google.com")
	trailingBlank := pol(ModeTesting, 86400, "mx1.example.net", "mx2.example.net")
	bom := pol(ModeEnforce, 1209600, "mail.example.org")
	mixed := pol(ModeEnforce, 604800, "mail.example.com", "*.backup.example.com")
	none := pol(ModeNone, 86400)
	trailingDot := pol(ModeEnforce, 604800, "mail.example.com")
	overLimit := pol(ModeEnforce, 31557600, "mail.example.com")
	shallow := pol(ModeEnforce, 604800, "*.mx.microsoft")
	tests := map[string]want{
		"large-provider-lf.txt":              {strict: large, diag: large},
		"hosted-wildcard-crlf.txt":           {strict: pol(ModeEnforce, 604800, "*.mail.protection.outlook.com"), diag: pol(ModeEnforce, 604800, "*.mail.protection.outlook.com")},
		"trailing-blank-line.txt":            {diag: trailingBlank, warnings: []int{6}, errLine: 6},
		"bom.txt":                            {diag: bom, warnings: []int{1}, errLine: 1},
		"mixed-endings-no-final-newline.txt": {strict: mixed, diag: mixed},
		"mode-none-no-mx.txt":                {strict: none, diag: none},
		"typo-nmx-no-mx.txt":                 {errLine: 3},
		"ip-as-mx.txt":                       {errLine: 3},
		"trailing-dot-mx.txt":                {diag: trailingDot, warnings: []int{3}, errLine: 3},
		"max-age-over-limit.txt":             {strict: overLimit, diag: overLimit, warnings: []int{4}},
		"shallow-wildcard.txt":               {strict: shallow, diag: shallow},
	}
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata holds %d policies, the table %d", len(files), len(tests))
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			data := readTestdata(t, name)
			got, err := ParsePolicy(data)
			switch {
			case w.strict == nil && err == nil:
				t.Errorf("strict: parsed %#v, want an error", got)
			case w.strict == nil:
				var se *SyntaxError
				if !errors.As(err, &se) || !errors.Is(err, ErrInvalidPolicy) || se.Line != w.errLine {
					t.Errorf("strict: error %v, want a *SyntaxError on line %d", err, w.errLine)
				}
			case err != nil:
				t.Errorf("strict: %v", err)
			case !reflect.DeepEqual(got, w.strict):
				t.Errorf("strict: got %#v, want %#v", got, w.strict)
			}

			got, diags, err := DiagnosePolicy(data)
			var warnLines []int
			for _, d := range diags {
				if d.Severity == SeverityWarning {
					warnLines = append(warnLines, d.Line)
				}
			}
			switch {
			case w.diag == nil && err == nil:
				t.Errorf("diagnosing: parsed %#v, want an error", got)
			case w.diag == nil:
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line != w.errLine {
					t.Errorf("diagnosing: error %v, want one on line %d", err, w.errLine)
				}
			case err != nil:
				t.Errorf("diagnosing: %v (%v)", err, diags)
			case !reflect.DeepEqual(got, w.diag):
				t.Errorf("diagnosing: got %#v, want %#v", got, w.diag)
			}
			if !reflect.DeepEqual(warnLines, w.warnings) {
				t.Errorf("diagnosing: warnings on lines %v, want %v (%v)", warnLines, w.warnings, diags)
			}
			if got != nil {
				checkRoundTrip(t, got)
			}
		})
	}
}

func TestTestdataTypoDiagnostic(t *testing.T) {
	_, diags, err := DiagnosePolicy(readTestdata(t, "typo-nmx-no-mx.txt"))
	want := []Diagnostic{{
		Line: 3, Column: 1, Severity: SeverityError,
		Message: "unknown field nmx; did you mean mx? mode enforce requires at least one mx field",
		Fix:     "rename nmx to mx",
	}}
	if !reflect.DeepEqual(diags, want) {
		t.Errorf("diagnostics\n got %#v\nwant %#v", diags, want)
	}
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("error %v", err)
	}
}

func TestTestdataShallowWildcard(t *testing.T) {
	p, err := ParsePolicy(readTestdata(t, "shallow-wildcard.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"h-v1.mx.microsoft":        true,
		"tenant.h-v1.mx.microsoft": false, // the real misconfiguration: too deep for "*."
		"mx.microsoft":             false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"mx", "mx", 0}, {"nmx", "mx", 1}, {"xm", "mx", 1}, {"max-age", "max_age", 1},
		{"maxage", "max_age", 1}, {"mdoe", "mode", 1}, {"verison", "version", 1},
		{"id", "mx", 2}, {"", "mx", 2},
	}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b, 5); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if got := editDistance(strings.Repeat("a", 40), strings.Repeat("a", 40), 1); got != 2 {
		t.Errorf("editDistance of overlong strings = %d, want limit+1", got)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
