package mtasts

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{SeverityWarning, SeverityError} {
		text, err := s.MarshalText()
		if err != nil || string(text) != s.String() {
			t.Errorf("%v.MarshalText() = %q, %v", s, text, err)
		}
		var back Severity
		if err := back.UnmarshalText(text); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, s)
		}
	}
	if text, err := Severity(0).MarshalText(); err == nil {
		t.Errorf("Severity(0).MarshalText() = %q, nil; want an error", text)
	}
	for _, in := range []string{"", "Error", "fatal", "2"} {
		var s Severity
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, nil; want an error", in, s)
		}
	}
}

// TestDiagnosticJSON: DiagnosePolicy's findings survive a JSON round trip,
// with the severity as a word.
func TestDiagnosticJSON(t *testing.T) {
	_, diags, err := DiagnosePolicy([]byte("version: STSv1\nmode: enforce\nmx: mx.example.com.\nmax_age: 86400\n"))
	if err != nil || len(diags) != 1 {
		t.Fatalf("DiagnosePolicy: %v, %v", diags, err)
	}
	data, err := json.Marshal(diags)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"line":3,"column":19,"severity":"warning","message":"trailing dot after the mx host name","fix":"remove the trailing dot"}]`
	if string(data) != want {
		t.Errorf("JSON\n got %s\nwant %s", data, want)
	}
	var back []Diagnostic
	if err := json.Unmarshal(data, &back); err != nil || len(back) != 1 || back[0] != diags[0] {
		t.Errorf("round trip: %v, %v; want %v", back, err, diags)
	}
}

// A Diagnostic has a JSON form with the severity as a word (so has a
// Finding of package inspect, which shares Severity).
func ExampleSeverity_MarshalText() {
	_, diags, err := DiagnosePolicy([]byte("\uFEFFversion: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := json.Marshal(diags[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))
	// Output:
	// {"line":1,"column":1,"severity":"warning","message":"the file begins with a UTF-8 byte order mark (BOM)","fix":"save the file as UTF-8 without a BOM"}
}

// mustParse parses a policy known to be valid (test data).
func mustParse(text string) *Policy {
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		panic(err)
	}
	return p
}
