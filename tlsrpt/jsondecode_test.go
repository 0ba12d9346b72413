package tlsrpt

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReportJSON returns a small valid report with the given policy, summary
// and failure-details members (JSON text without the surrounding braces of
// each object), and extra top-level members.
func sampleReportJSON(policy, summary, details, extra string) string {
	if policy == "" {
		policy = `"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"],"policy-domain":"example.net","mx-host":["mx.example.net"]`
	}
	if summary == "" {
		summary = `"total-successful-session-count":10,"total-failure-session-count":2`
	}
	if details == "" {
		details = `{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.example.net","receiving-ip":"198.51.100.7","failed-session-count":2,"failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"}`
	}
	if extra == "" {
		extra = `"organization-name":"Sender","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-01T23:59:59Z"},"contact-info":"tlsrpt@sender.example","report-id":"r1"`
	}
	return `{` + extra + `,"policies":[{"policy":{` + policy + `},"summary":{` + summary + `},"failure-details":[` + details + `]}]}`
}

func decodeReportString(s string) (*Report, error) { return ParseReport(strings.NewReader(s)) }

// notePaths returns "path: message" for each lenient reading of r.
func notePaths(r *Report) []string {
	var out []string
	for _, n := range r.notes {
		out = append(out, n.problem().String())
	}
	return out
}

func TestDecodeReportValues(t *testing.T) {
	r, err := decodeReportString(sampleReportJSON("", "", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	want := &Report{
		OrganizationName: "Sender",
		DateRange: DateRange{
			Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			End:   time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC),
		},
		ContactInfo: "tlsrpt@sender.example",
		ReportID:    "r1",
		Policies: []PolicyResult{{
			Policy: AppliedPolicy{
				Type:         PolicySTS,
				PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"},
				Domain:       "example.net",
				MXHost:       []string{"mx.example.net"},
			},
			Summary: Summary{TotalSuccessfulSessionCount: 10, TotalFailureSessionCount: 2},
			FailureDetails: []FailureDetail{{
				ResultType:          ResultCertificateExpired,
				SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
				ReceivingMXHostname: "mx.example.net",
				ReceivingIP:         netip.MustParseAddr("198.51.100.7"),
				FailedSessionCount:  2,
				FailureReasonCode:   "X509_V_ERR_CERT_HAS_EXPIRED",
			}},
		}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("decoded\n%#v\nwant\n%#v", r, want)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestDecodeLenient covers the real-world deviations the decoder accepts
// (each noted for Validate) and the SPEC.md tricky report inputs that decode.
func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(*Report) bool
		notes []string
	}{
		{
			name: "mx-host as a string (RFC example, erratum 6241)",
			json: sampleReportJSON(`"policy-type":"sts","policy-string":["mx: *.mx.example.net"],"policy-domain":"example.net","mx-host":"*.mx.example.net"`, "", "", ""),
			check: func(r *Report) bool {
				return reflect.DeepEqual(r.Policies[0].Policy.MXHost, []string{"*.mx.example.net"})
			},
			notes: []string{"policies[0].policy.mx-host: a string, not an array of strings; read as an array of one"},
		},
		{
			name: "policy-string as one string (Microsoft TLSA)",
			json: sampleReportJSON(`"policy-type":"tlsa","policy-string":"3 1 1 0123abcd 3 1 1 4567ef01","policy-domain":"example.net"`, "", "", ""),
			check: func(r *Report) bool {
				return reflect.DeepEqual(r.Policies[0].Policy.PolicyString, []string{"3 1 1 0123abcd 3 1 1 4567ef01"})
			},
			notes: []string{"policies[0].policy.policy-string: a string, not an array of strings; read as an array of one"},
		},
		{
			name: "date-times without a zone (Microsoft) are UTC",
			json: sampleReportJSON("", "", "", `"organization-name":"Microsoft Corporation","date-range":{"start-datetime":"2024-03-01T00:00:00","end-datetime":"2024-03-01T23:59:59.5"},"contact-info":"tlsrpt-noreply@microsoft.com","report-id":"x"`),
			check: func(r *Report) bool {
				return r.DateRange.Start == time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) &&
					r.DateRange.End == time.Date(2024, 3, 1, 23, 59, 59, 5e8, time.UTC)
			},
			notes: []string{
				`date-range.start-datetime: date-time "2024-03-01T00:00:00" has no time zone; read as UTC`,
				`date-range.end-datetime: date-time "2024-03-01T23:59:59.5" has no time zone; read as UTC`,
			},
		},
		{
			name: "date-times with an offset are converted to UTC",
			json: sampleReportJSON("", "", "", `"organization-name":"o","date-range":{"start-datetime":"2024-03-01T02:00:00+02:00","end-datetime":"2024-03-01T23:59:59-00:00"},"contact-info":"c","report-id":"x"`),
			check: func(r *Report) bool {
				return r.DateRange.Start == time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) &&
					r.DateRange.End == time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC)
			},
			notes: []string{`date-range.start-datetime: date-time "2024-03-01T02:00:00+02:00" is not in UTC`},
		},
		{
			name: "lower-case t and z, and a fraction, are RFC 3339",
			json: sampleReportJSON("", "", "", `"organization-name":"o","date-range":{"start-datetime":"2024-02-29t00:00:00.000000001z","end-datetime":"2024-03-01t00:00:00Z"},"contact-info":"c","report-id":"x"`),
			check: func(r *Report) bool {
				return r.DateRange.Start == time.Date(2024, 2, 29, 0, 0, 0, 1, time.UTC)
			},
		},
		{
			name: "empty sending-mta-ip (Google)",
			json: sampleReportJSON("", "", `{"result-type":"validation-failure","sending-mta-ip":"","receiving-ip":"2001:DB8:0::1","failed-session-count":2}`, ""),
			check: func(r *Report) bool {
				d := r.Policies[0].FailureDetails[0]
				return !d.SendingMTAIP.IsValid() && d.ReceivingIP.String() == "2001:db8::1"
			},
			notes: []string{"policies[0].failure-details[0].sending-mta-ip: empty string, not an IP address"},
		},
		{
			name: "malformed IP addresses",
			json: sampleReportJSON("", "", `{"result-type":"validation-failure","sending-mta-ip":"mx.example","receiving-ip":"fe80::1%eth0","failed-session-count":2}`, ""),
			check: func(r *Report) bool {
				d := r.Policies[0].FailureDetails[0]
				return !d.SendingMTAIP.IsValid() && !d.ReceivingIP.IsValid()
			},
			notes: []string{
				`policies[0].failure-details[0].sending-mta-ip: not an IP address: "mx.example"`,
				`policies[0].failure-details[0].receiving-ip: not an IP address: "fe80::1%eth0"`,
			},
		},
		{
			name:  "unknown result type is kept",
			json:  sampleReportJSON("", "", `{"result-type":"some-new-type","sending-mta-ip":"192.0.2.1","failed-session-count":2}`, ""),
			check: func(r *Report) bool { return r.Policies[0].FailureDetails[0].ResultType == "some-new-type" },
		},
		{
			name:  "policy-type STS is kept as written",
			json:  sampleReportJSON(`"policy-type":"STS","policy-domain":"example.net"`, "", "", ""),
			check: func(r *Report) bool { return r.Policies[0].Policy.Type == "STS" },
		},
		{
			name: "largest int64, 0 and -0",
			json: sampleReportJSON("", `"total-successful-session-count":9223372036854775807,"total-failure-session-count":0`, `{"result-type":"x","failed-session-count":-0}`, ""),
			check: func(r *Report) bool {
				s := r.Policies[0].Summary
				return s.TotalSuccessfulSessionCount == 1<<63-1 && s.TotalFailureSessionCount == 0 && r.Policies[0].FailureDetails[0].FailedSessionCount == 0
			},
		},
		{
			name: "contact-info null, empty arrays, failure-details null (Stalwart)",
			json: `{"organization-name":"o","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-02T00:00:00Z"},"contact-info":null,"report-id":"x",` +
				`"policies":[{"policy":{"policy-type":"sts","policy-string":[],"policy-domain":"example.net","mx-host":[]},"summary":{"total-successful-session-count":1,"total-failure-session-count":0},"failure-details":[]},` +
				`{"policy":{"policy-type":"no-policy-found","policy-domain":"example.net"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0},"failure-details":null}]}`,
			check: func(r *Report) bool {
				p := r.Policies[0]
				return r.ContactInfo == "" && p.Policy.PolicyString == nil && p.Policy.MXHost == nil && p.FailureDetails == nil && r.Policies[1].FailureDetails == nil
			},
		},
		{
			name:  "missing counts, summary and policies are noted",
			json:  `{"organization-name":"o","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-02T00:00:00Z"},"contact-info":"c","report-id":"x","policies":null}`,
			check: func(r *Report) bool { return r.Policies == nil },
			notes: []string{"policies: missing"},
		},
		{
			name: "missing summary members",
			json: sampleReportJSON("", `"total-successful-session-count":null`, `{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1"}`, ""),
			notes: []string{
				"policies[0].summary.total-successful-session-count: missing",
				"policies[0].summary.total-failure-session-count: missing",
				"policies[0].failure-details[0].failed-session-count: missing",
			},
		},
		{
			name: "unknown members at every level are ignored",
			json: sampleReportJSON(`"policy-type":"sts","x-policy":{"a":[1,2,{"b":null}],"c":true},"policy-string":["mx: mx.example.net"],"policy-domain":"example.net","mx-host":["mx.example.net"]`,
				`"x":false,"total-successful-session-count":10,"total-failure-session-count":2,"y":-1.5e+3`,
				`{"result-type":"certificate-expired","extra":"\u00e9\n","sending-mta-ip":"192.0.2.1","failed-session-count":2}`,
				`"organization-name":"o","date-range":{"start-datetime":"2024-03-01T00:00:00Z","z":[],"end-datetime":"2024-03-02T00:00:00Z"},"contact-info":"c","report-id":"x","x-vendor":{"nested":[[[]]]}`),
			check: func(r *Report) bool {
				return r.Policies[0].Summary.TotalFailureSessionCount == 2 && r.Policies[0].FailureDetails[0].SendingMTAIP.String() == "192.0.2.1"
			},
		},
		{
			name: "string escapes, surrogates and invalid UTF-8",
			json: sampleReportJSON("", "", "", `"organization-name":"caf\u00e9 \"X\" \\ \/ \b\f\n\r\t \ud83d\ude00 \ud83d x \udc00 `+"\xff"+` ü","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-02T00:00:00Z"},"contact-info":"c","report-id":"x"`),
			check: func(r *Report) bool {
				return r.OrganizationName == "café \"X\" \\ / \b\f\n\r\t 😀 \uFFFD x \uFFFD \uFFFD ü"
			},
		},
		{
			name:  "escaped member name",
			json:  sampleReportJSON("", "", "", `"organization\u002dname":"o","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-02T00:00:00Z"},"contact-info":"c","report-id":"x"`),
			check: func(r *Report) bool { return r.OrganizationName == "o" },
		},
		{
			name:  "duplicate members (I-JSON requires unique names)",
			json:  `{"report-id":"a","report-id":"b","date-range":{"start-datetime":"2024-03-01T00:00:00Z","start-datetime":"2024-03-02T00:00:00Z"},"policies":[]}`,
			check: func(r *Report) bool { return r.ReportID == "b" && r.DateRange.Start.Day() == 2 },
			notes: []string{
				"report-id: duplicate member; the last one counts",
				"date-range.start-datetime: duplicate member; the last one counts",
			},
		},
		{
			name:  "white space everywhere",
			json:  " \r\n\t{ \"organization-name\" :\t\"o\" , \"policies\" : [ ] , \"date-range\" : { } } \n",
			check: func(r *Report) bool { return r.OrganizationName == "o" && r.Policies == nil },
		},
	}
	for _, tt := range tests {
		r, err := decodeReportString(tt.json)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.check != nil && !tt.check(r) {
			t.Errorf("%s: unexpected values %#v", tt.name, r)
		}
		if got := notePaths(r); !reflect.DeepEqual(got, tt.notes) {
			t.Errorf("%s: notes\n%q\nwant\n%q", tt.name, got, tt.notes)
		}
		// Writers are strict: re-encoding gives none of the deviations.
		b, err := r.MarshalJSON()
		if err != nil {
			t.Errorf("%s: MarshalJSON: %v", tt.name, err)
			continue
		}
		again, err := decodeReportString(string(b))
		if err != nil {
			t.Errorf("%s: decoding the re-encoded report: %v\n%s", tt.name, err, b)
			continue
		}
		if len(again.notes) != 0 {
			t.Errorf("%s: re-encoded report has deviations %q\n%s", tt.name, notePaths(again), b)
		}
		if !sameReport(r, again) {
			t.Errorf("%s: round trip changed the report:\n%#v\n%#v", tt.name, r, again)
		}
	}
}

// sameReport compares reports, ignoring the decoder's notes.
func sameReport(a, b *Report) bool {
	x, y := *a, *b
	x.notes, y.notes = nil, nil
	return reflect.DeepEqual(x, y)
}

func TestDecodeErrors(t *testing.T) {
	valid := sampleReportJSON("", "", "", "")
	tests := []struct {
		name         string
		json         string
		path         string
		msg          string
		line, column int
		at           string // when set, the column is that of the first occurrence of at
	}{
		// SPEC.md tricky inputs.
		{"policies is an object", `{"organization-name":"o","policies":{}}`, "policies", "expected an array, found an object", 1, 37, ""},
		{"count as a string", sampleReportJSON("", "", `{"result-type":"x","failed-session-count":"5"}`, ""), "policies[0].failure-details[0].failed-session-count", "expected an integer, found a string", 1, 0, `"5"}`},
		{"fractional count", sampleReportJSON("", `"total-successful-session-count":1.5,"total-failure-session-count":2`, "", ""), "policies[0].summary.total-successful-session-count", `expected an integer, found "1.5"`, 1, 0, "1.5"},
		{"exponent count", sampleReportJSON("", `"total-successful-session-count":1e3,"total-failure-session-count":2`, "", ""), "policies[0].summary.total-successful-session-count", `expected an integer, found "1e3"`, 1, 0, "1e3"},
		{"negative count", sampleReportJSON("", `"total-successful-session-count":-1,"total-failure-session-count":2`, "", ""), "policies[0].summary.total-successful-session-count", `negative count "-1"`, 1, 0, "-1"},
		{"smallest int64", sampleReportJSON("", `"total-successful-session-count":1,"total-failure-session-count":-9223372036854775808`, "", ""), "policies[0].summary.total-failure-session-count", `negative count "-9223372036854775808"`, 1, 0, "-9223372036854775808"},
		{"negative failed-session-count", sampleReportJSON("", "", `{"result-type":"x","failed-session-count":-3}`, ""), "policies[0].failure-details[0].failed-session-count", `negative count "-3"`, 1, 0, "-3"},
		{"count overflow", sampleReportJSON("", `"total-successful-session-count":9223372036854775808`, "", ""), "policies[0].summary.total-successful-session-count", `count out of range (more than 9223372036854775807): "9223372036854775808"`, 1, 0, "9223372036854775808"},
		{"Appendix B raw line break", strings.Replace(valid, `"report-id":"r1"`, "\"report-id\":\"r\n1\"", 1), "", `invalid character '\n' in string literal`, 1, 0, "\n1"},
		// Types.
		{"top-level array", "[]", "", "a report must be a JSON object, found an array", 1, 1, ""},
		{"top-level null", " null", "", "a report must be a JSON object, found null", 1, 2, ""},
		{"organization-name number", `{"organization-name":1}`, "organization-name", "expected a string, found a number", 1, 22, ""},
		{"mx-host number", sampleReportJSON(`"policy-type":"sts","mx-host":[1]`, "", "", ""), "policies[0].policy.mx-host", "expected a string, found a number", 1, 0, "1]"},
		{"mx-host object", sampleReportJSON(`"policy-type":"sts","mx-host":{}`, "", "", ""), "policies[0].policy.mx-host", "expected an array, found an object", 1, 0, "{}"},
		{"policy result null", `{"policies":[null]}`, "policies[0]", "expected an object, found null", 1, 14, ""},
		{"failure detail string", sampleReportJSON("", "", `"x"`, ""), "policies[0].failure-details[0]", "expected an object, found a string", 1, 0, `"x"]`},
		{"date not RFC 3339", `{"date-range":{"start-datetime":"2024-03-01 00:00:00Z"}}`, "date-range.start-datetime", `not an RFC 3339 date-time: "2024-03-01 00:00:00Z"`, 1, 33, ""},
		{"date month 13", `{"date-range":{"start-datetime":"2024-13-01T00:00:00Z"}}`, "date-range.start-datetime", "not an RFC 3339 date-time", 1, 33, ""},
		{"date 30 February", `{"date-range":{"start-datetime":"2024-02-30T00:00:00Z"}}`, "date-range.start-datetime", "not an RFC 3339 date-time", 1, 33, ""},
		{"date 24:00", `{"date-range":{"end-datetime":"2024-03-01T24:00:00Z"}}`, "date-range.end-datetime", "not an RFC 3339 date-time", 1, 31, ""},
		{"date leap second", `{"date-range":{"end-datetime":"2016-12-31T23:59:60Z"}}`, "date-range.end-datetime", "not an RFC 3339 date-time", 1, 31, ""},
		{"date bad offset", `{"date-range":{"end-datetime":"2016-12-31T23:59:59+24:00"}}`, "date-range.end-datetime", "not an RFC 3339 date-time", 1, 31, ""},
		{"date number", `{"date-range":{"end-datetime":1700000000}}`, "date-range.end-datetime", "expected a string, found a number", 1, 31, ""},
		// JSON syntax, with line and column.
		{"empty", "", "", "unexpected end of JSON input", 1, 1, ""},
		{"white space only", " \n ", "", "unexpected end of JSON input", 2, 2, ""},
		{"trailing garbage", valid + " x", "", "invalid character 'x' after top-level value", 1, len(valid) + 2, ""},
		{"two objects", valid + valid, "", "invalid character '{' after top-level value", 1, len(valid) + 1, ""},
		{"trailing comma in object", "{\n  \"organization-name\": \"x\",\n  }", "", "invalid character '}' looking for beginning of object key string", 3, 3, ""},
		{"trailing comma in array", `{"x":[1,]}`, "", "invalid character ']' looking for beginning of value", 1, 9, ""},
		{"missing colon", `{"x" 1}`, "", "invalid character '1' after object key", 1, 6, ""},
		{"missing comma", `{"x":1 "y":2}`, "", `invalid character '"' after object key:value pair`, 1, 8, ""},
		{"unterminated string", `{"organization-name":"abc`, "", "unexpected end of JSON input", 1, 26, ""},
		{"bad escape", `{"x":"\x"}`, "", `invalid character 'x' in string escape code`, 1, 8, ""},
		{"bad unicode escape", `{"x":"\u12G4"}`, "", `invalid character 'G' in \u hexadecimal character escape`, 1, 11, ""},
		{"control character", "{\"x\":\"a\tb\"}", "", `invalid character '\t' in string literal`, 1, 8, ""},
		{"bad literal", `{"x":nul}`, "", "invalid character '}' in literal null (expecting 'l')", 1, 9, ""},
		{"leading zero", `{"x":01}`, "", "invalid character '1' after object key:value pair", 1, 7, ""},
		{"lone minus", `{"x":-}`, "", "invalid character '}' in numeric literal", 1, 7, ""},
		{"bare decimal point", `{"x":1.}`, "", "invalid character '}' after decimal point in numeric literal", 1, 8, ""},
		{"bad exponent", `{"x":1e}`, "", "invalid character '}' in exponent of numeric literal", 1, 8, ""},
		{"single quotes", `{'x':1}`, "", `invalid character '\'' looking for beginning of object key string`, 1, 2, ""},
		{"byte order mark", "\ufeff{}", "", "invalid character 'ï' looking for beginning of value", 1, 1, ""},
		{"unknown member deeply nested", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "", "exceeded max depth", 1, 10005, ""},
		{"type error in invalid JSON is a syntax error", `{"organization-name":[1,}`, "", "invalid character '}' looking for beginning of value", 1, 25, ""},
	}
	for _, tt := range tests {
		if tt.at != "" {
			tt.column = strings.Index(tt.json, tt.at) + 1
		}
		r, err := decodeReportString(tt.json)
		if err == nil {
			t.Errorf("%s: decoded %#v, want an error", tt.name, r)
			continue
		}
		if !errors.Is(err, ErrInvalidReport) {
			t.Errorf("%s: %v does not match ErrInvalidReport", tt.name, err)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: %T %v is not a *SyntaxError", tt.name, err, err)
			continue
		}
		if se.Path != tt.path || !strings.Contains(se.Msg, tt.msg) || se.Line != tt.line || se.Column != tt.column {
			t.Errorf("%s: got path %q msg %q at %d:%d (offset %d), want path %q msg %q at %d:%d",
				tt.name, se.Path, se.Msg, se.Line, se.Column, se.Offset, tt.path, tt.msg, tt.line, tt.column)
		}
	}
}

func TestUnmarshalJSON(t *testing.T) {
	var r Report
	if err := r.UnmarshalJSON([]byte(sampleReportJSON("", "", "", ""))); err != nil {
		t.Fatal(err)
	}
	if r.OrganizationName != "Sender" {
		t.Errorf("OrganizationName = %q", r.OrganizationName)
	}
	// null leaves the report as it is.
	if err := r.UnmarshalJSON([]byte("null")); err != nil || r.OrganizationName != "Sender" {
		t.Errorf("UnmarshalJSON(null) = %v, report %q", err, r.OrganizationName)
	}
	// Another report replaces the whole value.
	if err := r.UnmarshalJSON([]byte(`{"report-id":"2"}`)); err != nil || r.OrganizationName != "" || r.ReportID != "2" || r.Policies != nil {
		t.Errorf("second UnmarshalJSON = %v, report %#v", err, r)
	}
	// A failed decode leaves the report unchanged.
	if err := r.UnmarshalJSON([]byte(`{"report-id":3}`)); err == nil || r.ReportID != "2" {
		t.Errorf("failing UnmarshalJSON = %v, report %#v", err, r)
	}
}

func TestParseDateTime(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		zone int
		ok   bool
	}{
		{"2016-04-01T00:00:00Z", utc(2016, 4, 1, 0, 0, 0, 0), zoneUTC, true},
		{"2016-04-01t23:59:59z", utc(2016, 4, 1, 23, 59, 59, 0), zoneUTC, true},
		{"2016-04-01T23:59:59.5Z", utc(2016, 4, 1, 23, 59, 59, 5e8), zoneUTC, true},
		{"2016-04-01T23:59:59.1234567891Z", utc(2016, 4, 1, 23, 59, 59, 123456789), zoneUTC, true},
		{"2016-04-01T23:59:59+00:00", utc(2016, 4, 1, 23, 59, 59, 0), zoneUTC, true},
		{"2016-04-01T23:59:59-00:00", utc(2016, 4, 1, 23, 59, 59, 0), zoneUTC, true},
		{"2016-04-01T01:30:00+01:30", utc(2016, 4, 1, 0, 0, 0, 0), zoneOffset, true},
		{"2016-03-31T23:00:00-01:00", utc(2016, 4, 1, 0, 0, 0, 0), zoneOffset, true},
		{"2016-04-01T00:00:00", utc(2016, 4, 1, 0, 0, 0, 0), zoneNone, true},
		{"2000-02-29T00:00:00Z", utc(2000, 2, 29, 0, 0, 0, 0), zoneUTC, true},
		{"0000-01-01T00:00:00Z", utc(0, 1, 1, 0, 0, 0, 0), zoneUTC, true},
		{"1900-02-29T00:00:00Z", time.Time{}, 0, false},
		{"2016-04-01T00:00:00.Z", time.Time{}, 0, false},
		{"2016-04-01T00:00:00,5Z", time.Time{}, 0, false},
		{"2016-04-01T00:00:00+24:00", time.Time{}, 0, false},
		{"2016-04-01T00:00:00+0100", time.Time{}, 0, false},
		{"2016-04-01T00:00:00 Z", time.Time{}, 0, false},
		{"2016-04-01", time.Time{}, 0, false},
		{"2016-4-01T00:00:00Z", time.Time{}, 0, false},
		{"+016-04-01T00:00:00Z", time.Time{}, 0, false},
		{"2016-04-00T00:00:00Z", time.Time{}, 0, false},
		{"2016-04-31T00:00:00Z", time.Time{}, 0, false},
	}
	for _, tt := range tests {
		got, zone, ok := parseDateTime(tt.in)
		if ok != tt.ok || got != tt.want || zone != tt.zone {
			t.Errorf("parseDateTime(%q) = %v, %d, %v; want %v, %d, %v", tt.in, got, zone, ok, tt.want, tt.zone, tt.ok)
		}
		// Where time.Parse reads RFC 3339 too, both agree.
		if ref, err := time.Parse(time.RFC3339Nano, tt.in); err == nil && ok && !ref.Equal(got) {
			t.Errorf("parseDateTime(%q) = %v, time.Parse gives %v", tt.in, got, ref)
		}
	}
}
