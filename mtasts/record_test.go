package mtasts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func rec(id string, kv ...string) *Record {
	r := &Record{ID: id}
	for i := 0; i < len(kv); i += 2 {
		r.Extensions = append(r.Extensions, Extension{Name: kv[i], Value: kv[i+1]})
	}
	return r
}

// recordCases: either want is set, or parsing fails at column col with a
// message containing msg.
var recordCases = []struct {
	in   string
	want *Record
	col  int
	msg  string
}{
	// RFC 8461 §3.1's example and the valid inputs of SPEC.md.
	{in: "v=STSv1; id=20160831085700Z;", want: rec("20160831085700Z")},
	{in: "v=STSv1;id=abc", want: rec("abc")},
	{in: "v=STSv1; id=abc; ", want: rec("abc")},
	{in: "v=STSv1 ; id=a", want: rec("a")}, // the ABNF allows it; see erratum 6285
	{in: "v=STSv1\t;\tid=a\t;\t", want: rec("a")},
	{in: "v=STSv1;  id=a  ;  ", want: rec("a")},
	{in: "v=STSv1; id=a; id=b", want: rec("a")},
	{in: "v=STSv1; id=" + strings.Repeat("Z9", 16), want: rec(strings.Repeat("Z9", 16))},
	{in: "v=STSv1; ID=A; id=b", want: rec("b", "ID", "A")},
	{in: "v=STSv1; x=1; id=a; y.z-w_v=!\"#:<>?~", want: rec("a", "x", "1", "y.z-w_v", "!\"#:<>?~")},
	{in: "v=STSv1; id=a; " + strings.Repeat("n", 32) + "=v", want: rec("a", strings.Repeat("n", 32), "v")},
	{in: "v=STSv1; id=a; v=STSv2", want: rec("a", "v", "STSv2")},

	// Invalid records.
	{in: "v=STSv1", col: 8, msg: "must be followed by \";\" and an id field"},
	{in: "v=STSv1;", col: 9, msg: "id field is missing"},
	{in: "v=STSv1; ", col: 10, msg: "id field is missing"},
	{in: "v=STSv1; id=", col: 13, msg: `field "id" has an empty value`},
	{in: "v=STSv1; id=" + strings.Repeat("a", 33), col: 13, msg: "at most 32"},
	{in: "v=STSv1; id=2024-01-01", col: 17, msg: `only letters and digits, not "-"`},
	{in: "v=STSv1; ID=a", col: 14, msg: "id field is missing"},
	{in: "v=STSv1; id=a; x=1=2", col: 19, msg: `"=" is not allowed in a value`},
	{in: "v=STSv1; id=a; x=a b", col: 20, msg: `unexpected "b"`},
	{in: "v=STSv1; id=a;;", col: 15, msg: `unexpected ";"; expected a field name`},
	{in: "v=STSv1;=", col: 9, msg: `unexpected "="; expected a field name`},
	{in: "v=STSv1; id=a; =b", col: 16, msg: `unexpected "="; expected a field name`},
	{in: "v=STSv1;;", col: 9, msg: `unexpected ";"; expected a field name`},
	{in: "v=STSv1; id=a; x=é", col: 18, msg: `non-ASCII character "é"`},
	{in: "v=STSv1; id=abc ", col: 16, msg: "whitespace at the end"},
	{in: "v=STSv1; id=abc\t", col: 16, msg: "whitespace at the end"},
	{in: "v=STSv1; id=a; id=b-c", col: 20, msg: "only letters and digits"},
	{in: "v=STSv1; id=é", col: 13, msg: `non-ASCII character "é" is not allowed in a value`},
	{in: "v=STSv1; id=a; _x=1", col: 16, msg: "must begin with a letter or digit"},
	{in: "v=STSv1; id=a; " + strings.Repeat("n", 33) + "=v", col: 16, msg: "longer than 32"},
	{in: "v=STSv1; id=a; x", col: 17, msg: `field "x" has no "="`},
	{in: "v=STSv1; id=a; x=", col: 18, msg: `field "x" has an empty value`},
	{in: "v=STSv1; id=a\x00", col: 14, msg: "control character U+0000"},
	{in: "v=STSv1; id=a; x=\x7f", col: 18, msg: "control character U+007F"},
	{in: "v=STSv1 id=a", col: 9, msg: `unexpected "i"`},

	// Not MTA-STS records at all (SelectRecord discards them).
	{in: "v=stsv1; id=a", col: 1, msg: "does not begin with v=STSv1"},
	{in: "v=STSv10; id=a", col: 8, msg: "must be followed by \";\""},
	{in: "id=a; v=STSv1", col: 1, msg: "does not begin with v=STSv1"},
	{in: " v=STSv1; id=a", col: 1, msg: "does not begin with v=STSv1"},
	{in: "", col: 1, msg: "does not begin with v=STSv1"},
}

func TestParseRecord(t *testing.T) {
	for _, tc := range recordCases {
		got, err := ParseRecord(tc.in)
		if tc.want != nil {
			if err != nil {
				t.Errorf("ParseRecord(%q): %v", tc.in, err)
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRecord(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			continue
		}
		if err == nil || got != nil {
			t.Errorf("ParseRecord(%q) = %#v, %v; want an error", tc.in, got, err)
			continue
		}
		if errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParseRecord(%q) error %v matches ErrInvalidPolicy", tc.in, err)
		}
		checkSyntaxError(t, err, ErrInvalidRecord, 1, tc.col, tc.msg)
	}
}

func TestParseRecordErrorText(t *testing.T) {
	_, err := ParseRecord("v=STSv1; id=abc ")
	const want = `mtasts: TXT record column 16: whitespace at the end of the record (remove it or end the record with ";")`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestRecordString(t *testing.T) {
	tests := []struct {
		r    *Record
		want string
	}{
		{rec("20160831085700Z"), "v=STSv1; id=20160831085700Z"},
		{rec("a", "x", "1", "y", "2"), "v=STSv1; id=a; x=1; y=2"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range recordCases {
		if tc.want != nil {
			checkRecordRoundTrip(t, tc.in)
		}
	}
}

func checkRecordRoundTrip(t *testing.T, in string) {
	t.Helper()
	r, err := ParseRecord(in)
	if err != nil {
		return
	}
	s := r.String()
	r2, err := ParseRecord(s)
	if err != nil {
		t.Fatalf("ParseRecord(%q) = %v for String() of ParseRecord(%q)", s, err, in)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Fatalf("round trip of %q through %q: %#v, want %#v", in, s, r2, r)
	}
	if got, err := SelectRecord([]string{"v=spf1 -all", s}); err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("SelectRecord of %q = %#v, %v", s, got, err)
	}
}

func TestSelectRecord(t *testing.T) {
	tests := []struct {
		name    string
		txts    []string
		wantID  string
		wantErr error
	}{
		{"one STS record among others", []string{"v=STSv1; id=a", "v=spf1 -all"}, "a", nil},
		{"other records first", []string{"google-site-verification=x", "v=spf1 -all", "v=STSv1;id=x1"}, "x1", nil},
		{"space before the semicolon", []string{"v=STSv1 ; id=a"}, "a", nil},
		{"strings of one record joined", []string{strings.Join([]string{"v=STSv1; id=2019", "0101"}, "")}, "20190101", nil},
		{"two STS records", []string{"v=STSv1; id=a", "v=STSv1; id=b"}, "", ErrMultipleRecords},
		{"two STS records, one invalid", []string{"v=STSv1; id=a", "v=STSv1;"}, "", ErrMultipleRecords},
		{"no records", nil, "", ErrNoRecord},
		{"only other records", []string{"v=spf1 -all"}, "", ErrNoRecord},
		{"lower-case version", []string{"v=stsv1; id=a"}, "", ErrNoRecord},
		{"STSv10", []string{"v=STSv10; id=a"}, "", ErrNoRecord},
		{"version not first", []string{"id=a; v=STSv1"}, "", ErrNoRecord},
		{"leading space", []string{" v=STSv1; id=a"}, "", ErrNoRecord},
		{"no semicolon", []string{"v=STSv1"}, "", ErrNoRecord},
		{"one invalid STS record", []string{"v=STSv1; id=", "v=spf1 -all"}, "", ErrInvalidRecord},
		{"one STS record without id", []string{"v=STSv1;"}, "", ErrInvalidRecord},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := SelectRecord(tc.txts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || r != nil {
					t.Fatalf("SelectRecord = %#v, %v; want %v", r, err, tc.wantErr)
				}
				return
			}
			if err != nil || r.ID != tc.wantID {
				t.Fatalf("SelectRecord = %#v, %v; want id %q", r, err, tc.wantID)
			}
		})
	}
	_, err := SelectRecord([]string{"v=STSv1; id=a", "v=STSv1; id=b", "v=STSv1; id=c"})
	if err == nil || err.Error() != "mtasts: more than one MTA-STS TXT record (3 found)" {
		t.Errorf("error %v", err)
	}
}
