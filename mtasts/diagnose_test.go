package mtasts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func warning(line, col int, msg, fix string) Diagnostic {
	return Diagnostic{Line: line, Column: col, Severity: SeverityWarning, Message: msg, Fix: fix}
}

func failure(line, col int, msg, fix string) Diagnostic {
	return Diagnostic{Line: line, Column: col, Severity: SeverityError, Message: msg, Fix: fix}
}

const (
	bomMsg, bomFix     = "the file begins with a UTF-8 byte order mark (BOM)", "save the file as UTF-8 without a BOM"
	blankMsg, blankFix = "blank line at the end of the policy", "remove the blank lines after the last field"
	dotMsg, dotFix     = "trailing dot after the mx host name", "remove the trailing dot"
)

func TestDiagnosePolicy(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  *Policy // nil: invalid
		diags []Diagnostic
	}{
		{name: "clean policy", in: tV + tM + tX + tA, want: enforceMail},
		{name: "BOM", in: "\uFEFF" + tV + tM + tX + tA, want: enforceMail,
			diags: []Diagnostic{warning(1, 1, bomMsg, bomFix)}},
		{name: "final blank lines", in: tV + tM + tX + tA + "\n \r\n\t\n", want: enforceMail,
			diags: []Diagnostic{warning(5, 1, blankMsg, blankFix)}},
		{name: "final blank line without line break", in: tV + tM + tX + tA + "  ", want: enforceMail,
			diags: []Diagnostic{warning(5, 1, blankMsg, blankFix)}},
		{name: "trailing dot on mx", in: tV + tM + "mx: Mail.Example.com.  \n" + tA, want: enforceMail,
			diags: []Diagnostic{warning(3, 21, dotMsg, dotFix)}},
		{name: "max_age over the limit", in: tV + tM + tX + "max_age: 9999999999\n", want: pol(ModeEnforce, 31557600, "mail.example.com"),
			diags: []Diagnostic{warning(4, 10, "max_age 9999999999 is above the maximum of 31557600 seconds (one year); 31557600 is used", "set max_age to 31557600 or less")}},
		{name: "all slips at once", in: "\uFEFF" + tV + tM + "mx: mail.example.com.\r\n" + tA + "\r\n", want: enforceMail,
			diags: []Diagnostic{warning(1, 1, bomMsg, bomFix), warning(3, 21, dotMsg, dotFix), warning(5, 1, blankMsg, blankFix)}},
		{name: "duplicates", in: tV + "mode: testing\n" + tX + tM + tA + tV + "max_age: 5\n", want: pol(ModeTesting, 86400, "mail.example.com"),
			diags: []Diagnostic{
				warning(4, 1, "duplicate field mode; only the first, on line 2, counts", "remove this line"),
				warning(6, 1, "duplicate field version; only the first, on line 1, counts", "remove this line"),
				warning(7, 1, "duplicate field max_age; only the first, on line 5, counts", "remove this line"),
			}},
		{name: "misspelt extension names", in: tV + tM + tX + tA + "Mode: testing\nmx-: a\nmaxage: 5\nnote: fine\n",
			want: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "Mode", "testing", "mx-", "a", "maxage", "5", "note", "fine"),
			diags: []Diagnostic{
				warning(5, 1, "unknown field Mode is ignored; did you mean mode?", "rename Mode to mode"),
				warning(6, 1, "unknown field mx- is ignored; did you mean mx?", "rename mx- to mx"),
				warning(7, 1, "unknown field maxage is ignored; did you mean max_age?", "rename maxage to max_age"),
			}},
		{name: "typo explains the missing field", in: tV + "mdoe: enforce\n" + tX + tA,
			diags: []Diagnostic{failure(2, 1, "unknown field mdoe; did you mean mode? the required field mode is missing", "rename mdoe to mode")}},
		{name: "every error is reported", in: "version: STSv2\nmode: Enforce\nmx: a.example.com, b.example.com\nmax_age: 1e5\n\nfoo:\n",
			diags: []Diagnostic{
				failure(1, 10, `version must be STSv1, not "STSv2"`, `write "version: STSv1"`),
				failure(2, 7, `mode must be enforce, testing or none, not "Enforce"`, `write "enforce" in lower case`),
				failure(3, 18, `mx: "," found; an mx field holds one host name`, "put each host name on its own mx line"),
				failure(4, 11, `max_age must be a number of seconds in digits only; "e" is not allowed`, "write max_age: <seconds>, at most 31557600 (one year), e.g. 604800 (one week)"),
				failure(5, 1, "blank line between fields", "remove the blank line"),
				failure(6, 5, "field foo has no value", "give it a value or remove the line"),
			}},
		{name: "missing fields", in: "",
			diags: []Diagnostic{
				failure(1, 1, "the required field version is missing", `add the line "version: STSv1"`),
				failure(1, 1, "the required field mode is missing", `add "mode: testing", "mode: enforce" or "mode: none"`),
				failure(1, 1, "the required field max_age is missing", `add "max_age: <seconds>", e.g. 604800 (one week)`),
			}},
		{name: "blank line in the middle stays an error", in: tV + "\n" + tM + tX + tA + "\n",
			diags: []Diagnostic{failure(2, 1, "blank line between fields", "remove the blank line"), warning(6, 1, blankMsg, blankFix)}},
		{name: "U-label mx with its A-label", in: tV + tM + "mx: *.bücher.example\n" + tA,
			diags: []Diagnostic{failure(3, 8, "mx: the host name is written in U-labels; mx values must be A-labels (punycode)", "write *.xn--bcher-kva.example")}},
		{name: "trailing dots are not a slip", in: tV + tM + "mx: mail.example.com..\n" + tA,
			diags: []Diagnostic{failure(3, 22, "mx: empty label (two dots in a row)", "")}},
		{name: "bare CR", in: tV + "mode: enforce\r" + tX + tA,
			diags: []Diagnostic{failure(2, 14, "carriage return (CR) not followed by a line feed (LF)", "end every line with LF or CRLF")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, diags, err := DiagnosePolicy([]byte(tc.in))
			if !reflect.DeepEqual(diags, tc.diags) {
				t.Errorf("diagnostics:\n got %s\nwant %s", fmtDiags(diags), fmtDiags(tc.diags))
			}
			if tc.want == nil {
				if got != nil || !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("DiagnosePolicy = %#v, %v; want ErrInvalidPolicy", got, err)
				}
				var se *SyntaxError
				if errors.As(err, &se) && len(diags) > 0 && (se.Line != diags[0].Line || se.Column != diags[0].Column) {
					t.Errorf("error %v is not the first diagnostic %v", err, diags[0])
				}
				return
			}
			if err != nil {
				t.Fatalf("DiagnosePolicy: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("policy %#v, want %#v", got, tc.want)
			}
		})
	}
}

func fmtDiags(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("\n\t" + d.String())
	}
	return b.String()
}

// TestDiagnoseAgreesWithStrict checks, over the strict table, that the
// diagnosing parse accepts everything the strict parse accepts, with the
// same result, and reports every strict error at the same place unless it
// is one of the tolerated slips.
func TestDiagnoseAgreesWithStrict(t *testing.T) {
	for _, tc := range policyCases {
		strict, serr := ParsePolicy([]byte(tc.in))
		diag, diags, derr := DiagnosePolicy([]byte(tc.in))
		if serr == nil {
			if derr != nil || !reflect.DeepEqual(strict, diag) {
				t.Errorf("%s: strict %#v, diagnosing %#v, %v", tc.name, strict, diag, derr)
			}
			continue
		}
		if derr == nil {
			continue // a tolerated slip; the tables above say which
		}
		var se *SyntaxError
		errors.As(serr, &se)
		found := false
		for _, d := range diags {
			// The error itself, or a tolerated slip there, reported as a warning.
			found = found || d.Line == se.Line && d.Column == se.Column && (d.Message == se.Msg || d.Severity == SeverityWarning)
		}
		if !found {
			t.Errorf("%s: strict error %v is not among the diagnostics%s", tc.name, serr, fmtDiags(diags))
		}
	}
}

func TestDiagnosticString(t *testing.T) {
	d := warning(3, 1, "unknown field nmx is ignored; did you mean mx?", "rename nmx to mx")
	if got, want := d.String(), "3:1: warning: unknown field nmx is ignored; did you mean mx? (rename nmx to mx)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	d = failure(2, 7, "mode has no value", "")
	if got, want := d.String(), "2:7: error: mode has no value"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := Severity(0).String(); got != "Severity(0)" {
		t.Errorf("Severity(0).String() = %q", got)
	}
}
