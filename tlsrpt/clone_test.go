package tlsrpt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// eachStringOf returns the strings of r in eachString's order.
func eachStringOf(r *Report) []string {
	var out []string
	c := *r
	c.Policies = append([]PolicyResult(nil), r.Policies...)
	for i := range c.Policies {
		p := &c.Policies[i]
		p.Policy.PolicyString = append([]string(nil), p.Policy.PolicyString...)
		p.Policy.MXHost = append([]string(nil), p.Policy.MXHost...)
		p.FailureDetails = append([]FailureDetail(nil), p.FailureDetails...)
	}
	c.notes = append([]note(nil), r.notes...)
	c.eachString(func(s string) string { out = append(out, s); return s })
	return out
}

// TestClone: a clone equals the report, lists the same findings, and none
// of its strings or slices share memory with the report's.
func TestClone(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseReport(strings.NewReader(string(data)))
		if err != nil {
			continue // the verbatim RFC example does not decode
		}
		c := r.Clone()
		if !reflect.DeepEqual(c, r) {
			t.Errorf("%s: clone differs:\n%+v\n%+v", file, c, r)
		}
		if ve, vc := errString(r.Validate()), errString(c.Validate()); ve != vc {
			t.Errorf("%s: Validate of the clone %q, of the report %q", file, vc, ve)
		}
		a, b := eachStringOf(r), eachStringOf(c)
		for i := range a {
			if len(a[i]) > 0 && unsafe.StringData(a[i]) == unsafe.StringData(b[i]) {
				t.Errorf("%s: string %q shared", file, a[i])
			}
		}
		if len(c.Policies) > 0 && &c.Policies[0] == &r.Policies[0] {
			t.Errorf("%s: policies shared", file)
		}
	}
	if (*Report)(nil).Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
}

// TestCloneDoesNotPinText: the clone of a report decoded from 8 MiB of
// JSON, most of it an unknown member, costs what its values hold.
func TestCloneDoesNotPinText(t *testing.T) {
	text := strings.Replace(sampleReportJSON("", "", "", ""), `{`, `{"x-padding":"`+strings.Repeat("a", 8<<20)+`",`, 1)
	r, err := ParseReport(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var c *Report
	got := allocated(func() { c = r.Clone() })
	if got > 16<<10 {
		t.Errorf("Clone allocated %d bytes", got)
	}
	if c.OrganizationName != "Sender" || !reflect.DeepEqual(c, r) {
		t.Errorf("organization %q, want %q", c.OrganizationName, r.OrganizationName)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
