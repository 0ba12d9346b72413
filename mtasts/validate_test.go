package mtasts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	week := 7 * 24 * time.Hour
	tests := []struct {
		name string
		p    *Policy
		errs []string // one part of each expected error, in order; none: valid
	}{
		{name: "enforce", p: pol(ModeEnforce, 604800, "mail.example.com", "*.example.net")},
		{name: "testing", p: pol(ModeTesting, 86400, "mail.example.com")},
		{name: "none without mx", p: pol(ModeNone, 86400)},
		{name: "max_age 0", p: pol(ModeEnforce, 0, "mail.example.com")},
		{name: "max_age at the limit", p: &Policy{Mode: ModeEnforce, MaxAge: MaxMaxAge, MX: []string{"mail.example.com"}}},
		{name: "upper-case mx", p: pol(ModeEnforce, 86400, "MAIL.Example.COM")},
		{name: "A-label mx", p: pol(ModeEnforce, 86400, "*.xn--bcher-kva.example")},
		{name: "extensions", p: withExt(pol(ModeEnforce, 86400, "mail.example.com"), "note", "café au lait", "Mode", "x")},

		{name: "zero value", p: &Policy{}, errs: []string{"mode is not set"}},
		{name: "mode in upper case", p: pol("Enforce", 86400, "mail.example.com"), errs: []string{`mode "Enforce" is not enforce, testing or none`}},
		{name: "negative max_age", p: &Policy{Mode: ModeNone, MaxAge: -time.Second}, errs: []string{"max_age -1s is negative"}},
		{name: "max_age above the limit", p: &Policy{Mode: ModeNone, MaxAge: MaxMaxAge + time.Second}, errs: []string{"above the maximum"}},
		{name: "max_age fraction", p: &Policy{Mode: ModeNone, MaxAge: 1500 * time.Millisecond}, errs: []string{"not a whole number of seconds"}},
		{name: "enforce without mx", p: pol(ModeEnforce, 86400), errs: []string{"mode enforce requires at least one mx"}},
		{name: "U-label mx", p: pol(ModeEnforce, 86400, "mäil.example.com"), errs: []string{`mx[0] "mäil.example.com": the host name is written in U-labels; mx values must be A-labels (punycode) (write xn--mil-qla.example.com)`}},
		{name: "trailing dot mx", p: pol(ModeEnforce, 86400, "mail.example.com."), errs: []string{"trailing dot"}},
		{name: "wildcard alone", p: pol(ModeEnforce, 86400, "*"), errs: []string{"lone"}},
		{name: "empty mx", p: pol(ModeEnforce, 86400, ""), errs: []string{"no host name"}},
		{name: "extension named like a field", p: withExt(pol(ModeNone, 1), "mode", "enforce"), errs: []string{"mode is a standard field"}},
		{name: "extension bad names", p: withExt(pol(ModeNone, 1), "_x", "1", "", "1", strings.Repeat("n", 33), "1", "a b", "1"),
			errs: []string{`name "_x"`, `name ""`, `name "nnn`, `name "a b"`}},
		{name: "extension bad values", p: withExt(pol(ModeNone, 1), "a", "", "b", " x", "c", "x ", "d", "a\tb", "e", "a\nb", "f", "\xff"),
			errs: []string{"a: empty value", "b: the value begins or ends with a space", "c: the value begins or ends with a space", "d: tab", "e: control character U+000A", "f: the value is not valid UTF-8"}},
		{name: "several problems", p: &Policy{Mode: ModeTesting, MaxAge: -week, MX: []string{"a..b", "192.0.2.1"}},
			errs: []string{"negative", "mx[0]", "mx[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				checkRoundTrip(t, tc.p.normalisedForTest())
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Validate() = %v; want ErrInvalidPolicy", err)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("Validate() = %T, want a joined error", err)
			}
			errs := joined.Unwrap()
			if len(errs) != len(tc.errs) {
				t.Fatalf("Validate() = %d errors, want %d:\n%v", len(errs), len(tc.errs), err)
			}
			for i, e := range errs {
				if !errors.Is(e, ErrInvalidPolicy) || !strings.Contains(e.Error(), tc.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e, tc.errs[i])
				}
			}
			if b, err := tc.p.MarshalText(); err == nil {
				t.Errorf("MarshalText of an invalid policy = %q", b)
			}
		})
	}
}

// normalisedForTest lowers the MX of a policy built in code, as parsing
// its text does.
func (p *Policy) normalisedForTest() *Policy {
	q := *p
	q.MX = nil
	for _, m := range p.MX {
		q.MX = append(q.MX, strings.ToLower(m))
	}
	return &q
}

func TestNewPolicy(t *testing.T) {
	week := 7 * 24 * time.Hour
	p, err := NewPolicy(ModeEnforce, week, "MX1.Bücher.example.", "*.mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{Mode: ModeEnforce, MaxAge: week, MX: []string{"mx1.xn--bcher-kva.example", "*.mail.example.com"}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("NewPolicy = %#v, want %#v", p, want)
	}
	checkRoundTrip(t, p)

	if p, err := NewPolicy(ModeNone, time.Hour); err != nil || p.MX != nil {
		t.Errorf("NewPolicy(none) = %#v, %v", p, err)
	}

	for _, bad := range []struct {
		mode   Mode
		maxAge time.Duration
		mx     []string
		want   []string
	}{
		{ModeEnforce, week, nil, []string{"requires at least one mx"}},
		{ModeEnforce, week, []string{"mail.*.example.com", "192.0.2.1"}, []string{`"mail.*.example.com"`, `"192.0.2.1"`}},
		{"strict", 400 * 24 * time.Hour, []string{"mail.example.com"}, []string{`mode "strict"`, "above the maximum"}},
	} {
		p, err := NewPolicy(bad.mode, bad.maxAge, bad.mx...)
		if p != nil || !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("NewPolicy(%v, %v, %q) = %#v, %v", bad.mode, bad.maxAge, bad.mx, p, err)
			continue
		}
		for _, w := range bad.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewPolicy(%v, %v, %q) error %q does not mention %q", bad.mode, bad.maxAge, bad.mx, err, w)
			}
		}
	}
}
