package mtasts

import (
	"strings"
	"testing"
)

// maxDiagnosticLen bounds a diagnostic's text: a message and a fix, each
// quoting at most a 64-byte prefix of the input (4 bytes per byte escaped).
const maxDiagnosticLen = 1024

// FuzzDiagnosePolicy: whatever the policy host serves, every diagnostic and
// the error are short and hold no raw control character, so that they are
// safe to log, print and show in HTML after HTML escaping.
func FuzzDiagnosePolicy(f *testing.F) {
	for _, tc := range policyCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(benchPolicy))
	f.Add([]byte("version: STSv1\nmode: " + strings.Repeat("\x1b[31m", 2000) + "\nmx: a\nmax_age: 1\n"))
	f.Add([]byte("version: STSv1\n" + strings.Repeat("x", 5000) + "\nmx: " + strings.Repeat("a.", 3000) + "\n"))
	f.Add([]byte("\ufeffversion: STSv1\r\nMode: enforce\r\nnmx: mx.example.\r\nmax-age: 99999999999\r\n\r\n"))
	safe := func(t *testing.T, what, s string) {
		t.Helper()
		if len(s) > maxDiagnosticLen {
			t.Fatalf("%s of %d bytes: %.100q", what, len(s), s)
		}
		if strings.ContainsAny(s, "\x00\x1b\r\n") {
			t.Fatalf("%s holds a control character: %q", what, s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, diags, err := DiagnosePolicy(data)
		for _, d := range diags {
			safe(t, "diagnostic", d.String())
		}
		if err != nil {
			safe(t, "error", err.Error())
			if p != nil {
				t.Fatalf("policy %v with error %v", p, err)
			}
		}
		if _, perr := ParsePolicy(data); perr != nil {
			safe(t, "ParsePolicy error", perr.Error())
		}
	})
}
