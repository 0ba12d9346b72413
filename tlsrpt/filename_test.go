package tlsrpt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFileName(t *testing.T) {
	unix := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	valid := []struct {
		name string
		want FileName
	}{
		// RFC 8460 §5.1 example.
		{"mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz",
			FileName{"mail.sndr.example.com", "example.net", unix(1470013207), unix(1470186007), "001", true}},
		{"mail.sndr.example.com!example.net!1470013207!1470186007.json",
			FileName{"mail.sndr.example.com", "example.net", unix(1470013207), unix(1470186007), "", false}},
		{"google.com!xn--bcher-kva.example!0!86399!AbC9.json",
			FileName{"google.com", "xn--bcher-kva.example", unix(0), unix(86399), "AbC9", false}},
		{"Sender.EXAMPLE!Example.Net!1!2.json.gz",
			FileName{"Sender.EXAMPLE", "Example.Net", unix(1), unix(2), "", true}},
	}
	for _, tt := range valid {
		got, err := ParseFileName(tt.name)
		if err != nil {
			t.Errorf("ParseFileName(%q): %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFileName(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
		if s := got.String(); s != tt.name {
			t.Errorf("ParseFileName(%q).String() = %q", tt.name, s)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("ParseFileName(%q).Validate() = %v", tt.name, err)
		}
	}
	invalid := []struct{ name, msg string }{
		// SPEC.md tricky inputs.
		{"s.example!p.example!1!2.gz", "does not end in .json or .json.gz"},
		{"s.example!p.example!1!2.json.gzip", "does not end in .json or .json.gz"},
		{"s.example!p.example!1!2!a-b.json", `unique-id "a-b" is not letters and digits`},
		{"s.example!bücher.example!1!2.json", `policy domain "bücher.example" is not a domain name in A-labels`},
		// More.
		{"s.example!p.example!1!2.JSON", "does not end in"},
		{"s.example!p.example!1.json", "4 or 5 fields"},
		{"s.example!p.example!1!2!x!y.json", "4 or 5 fields"},
		{"s.example!p.example!1!2!.json", "empty unique-id"},
		{"s.example!p.example!!2.json", "begin timestamp: empty"},
		{"s.example!p.example!1!-2.json", `end timestamp: "-2" is not decimal digits`},
		{"s.example!p.example!1.5!2.json", `begin timestamp: "1.5" is not decimal digits`},
		{"s.example!p.example!1!253402300800.json", "after the year 9999"},
		{"s.example!p.example!1!99999999999999999999999.json", "after the year 9999"},
		{"!p.example!1!2.json", `sender "" is not a domain name`},
		{"s_x.example!p.example!1!2.json", `sender "s_x.example" is not a domain name`},
		{"s.example!p.example.!1!2.json", `policy domain "p.example." is not a domain name`},
	}
	for _, tt := range invalid {
		got, err := ParseFileName(tt.name)
		if err == nil {
			t.Errorf("ParseFileName(%q) = %+v, want an error", tt.name, got)
			continue
		}
		if !errors.Is(err, ErrInvalidFileName) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseFileName(%q) error %q, want ErrInvalidFileName saying %q", tt.name, err, tt.msg)
		}
	}
}

func TestFileNameString(t *testing.T) {
	f := FileName{
		Sender:       "mail.sndr.example.com",
		PolicyDomain: "example.net",
		Begin:        time.Date(2016, 8, 1, 2, 0, 7, 999, time.FixedZone("x", 3600)),
		End:          time.Unix(1470186007, 0),
		UniqueID:     "001",
		Gzip:         true,
	}
	if got, want := f.String(), "mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	for _, bad := range []FileName{
		{Sender: "s.example", PolicyDomain: "p.example"}, // zero times are before 1970
		{Sender: "s.example", PolicyDomain: "p.example", Begin: time.Unix(1, 0), End: time.Unix(-1, 0)},
		{Sender: "s.example", PolicyDomain: "p.example", Begin: time.Unix(1, 0), End: time.Unix(2, 0), UniqueID: "a!b"},
		{Sender: "s example", PolicyDomain: "p.example", Begin: time.Unix(1, 0), End: time.Unix(2, 0)},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidFileName) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidFileName", bad, err)
		}
	}
}

func FuzzParseFileName(f *testing.F) {
	f.Add("mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz")
	f.Add("a!b!0!0.json")
	f.Fuzz(func(t *testing.T, name string) {
		fn, err := ParseFileName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidFileName) {
				t.Fatalf("error %v does not match ErrInvalidFileName", err)
			}
			return
		}
		again, err := ParseFileName(fn.String())
		if err != nil || !reflect.DeepEqual(again, fn) {
			t.Fatalf("round trip of %q via %q: %+v, %v", name, fn.String(), again, err)
		}
	})
}
