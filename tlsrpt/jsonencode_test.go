package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMarshalJSONForm(t *testing.T) {
	r := &Report{
		OrganizationName: "Sender",
		DateRange: DateRange{
			Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			End:   time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC),
		},
		ContactInfo: "tlsrpt@sender.example",
		ReportID:    "r1",
		Policies: []PolicyResult{
			{
				Policy: AppliedPolicy{
					Type:         PolicySTS,
					PolicyString: []string{"version: STSv1", "mode: testing", "mx: *.mx.example.net", "max_age: 86400"},
					Domain:       "example.net",
					MXHost:       []string{"*.mx.example.net"},
				},
				Summary: Summary{TotalSuccessfulSessionCount: 5, TotalFailureSessionCount: 3},
				FailureDetails: []FailureDetail{{
					ResultType:            ResultCertificateExpired,
					SendingMTAIP:          netip.MustParseAddr("2001:db8:abcd:0012::1"),
					ReceivingMXHostname:   "mx1.mx.example.net",
					ReceivingMXHelo:       "mx1",
					ReceivingIP:           netip.MustParseAddr("::ffff:192.0.2.1"),
					FailedSessionCount:    3,
					AdditionalInformation: "https://sender.example/info",
					FailureReasonCode:     "X509_V_ERR_CERT_HAS_EXPIRED",
				}},
			},
			{
				Policy:  AppliedPolicy{Type: PolicyNotFound},
				Summary: Summary{TotalSuccessfulSessionCount: 1},
			},
		},
	}
	const want = `{"organization-name":"Sender",` +
		`"date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-01T23:59:59Z"},` +
		`"contact-info":"tlsrpt@sender.example","report-id":"r1","policies":[` +
		`{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.mx.example.net","max_age: 86400"],` +
		`"policy-domain":"example.net","mx-host":["*.mx.example.net"]},` +
		`"summary":{"total-successful-session-count":5,"total-failure-session-count":3},` +
		`"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"2001:db8:abcd:12::1",` +
		`"receiving-mx-hostname":"mx1.mx.example.net","receiving-mx-helo":"mx1","receiving-ip":"::ffff:192.0.2.1",` +
		`"failed-session-count":3,"additional-information":"https://sender.example/info",` +
		`"failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"}]},` +
		`{"policy":{"policy-type":"no-policy-found","policy-domain":""},` +
		`"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`
	got, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("MarshalJSON:\n got %s\nwant %s", got, want)
	}
	// encoding/json uses MarshalJSON for values and pointers, and for a
	// Report inside another value.
	for _, v := range []any{r, *r, struct{ R Report }{*r}, []Report{*r}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("json.Marshal(%T) = %s", v, b)
		}
	}
	// An empty report still has every required member.
	empty, _ := (&Report{}).MarshalJSON()
	const wantEmpty = `{"organization-name":"","date-range":{"start-datetime":"0001-01-01T00:00:00Z","end-datetime":"0001-01-01T00:00:00Z"},"contact-info":"","report-id":"","policies":[]}`
	if string(empty) != wantEmpty {
		t.Errorf("empty report:\n got %s\nwant %s", empty, wantEmpty)
	}
}

func TestMarshalJSONStrings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\s/`, `"q\"b\\s/"`},
		{"\n\r\t\b\f\x00\x1f\x7f", `"\n\r\t\u0008\u000c\u0000\u001f` + "\x7f" + `"`},
		{"café ü 😀", `"café ü 😀"`},
		{"a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"bad \xff utf-8 \xc3", `"bad \ufffd utf-8 \ufffd"`},
		{"<&>", `"<&>"`},
	}
	for _, tt := range tests {
		got := string(appendString(nil, tt.in))
		if got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("appendString(%q) = %s is not a JSON string: %v", tt.in, got, err)
		}
		// The decoder reads back what was written (after U+FFFD replacement).
		d := decoder{s: got}
		if s, err := d.str(); err != nil || s != back {
			t.Errorf("decoder reads %s as %q, %v; encoding/json as %q", got, s, err, back)
		}
	}
}

func TestMarshalJSONTimes(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), `"2024-03-01T00:00:00Z"`},
		{time.Date(2024, 3, 1, 1, 0, 0, 0, berlin), `"2024-03-01T00:00:00Z"`},
		{time.Date(2024, 3, 1, 23, 59, 59, 500000000, time.UTC), `"2024-03-01T23:59:59.5Z"`},
		{time.Date(2024, 3, 1, 23, 59, 59, 1, time.UTC), `"2024-03-01T23:59:59.000000001Z"`},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), `"9999-12-31T23:59:59Z"`},
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), `"0000-01-01T00:00:00Z"`},
		{time.Time{}, `"0001-01-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		got, ok := appendTime(nil, tt.t)
		if !ok || string(got) != tt.want {
			t.Errorf("appendTime(%v) = %s, %v; want %s", tt.t, got, ok, tt.want)
		}
		back, zone, ok := parseDateTime(strings.Trim(string(got), `"`))
		if !ok || zone != zoneUTC || !back.Equal(tt.t) {
			t.Errorf("appendTime(%v) reads back as %v", tt.t, back)
		}
	}
	for _, bad := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		r := &Report{DateRange: DateRange{End: bad}}
		if _, err := r.MarshalJSON(); err == nil {
			t.Errorf("MarshalJSON with a date-time in %d succeeded", bad.Year())
		}
	}
}

func TestMarshalJSONAddresses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", `"192.0.2.1"`},
		{"2001:DB8:0:0:0:0:0:1", `"2001:db8::1"`},
		{"2001:db8:0:0:1:0:0:1", `"2001:db8::1:0:0:1"`},
		{"::ffff:192.0.2.1", `"::ffff:192.0.2.1"`},
		{"fe80::1%eth0", `"fe80::1"`}, // the zone is not part of an IP literal
	}
	for _, tt := range tests {
		got := string(appendAddr(nil, netip.MustParseAddr(tt.in)))
		if got != tt.want {
			t.Errorf("appendAddr(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// The size hint makes MarshalJSON allocate once for ordinary reports.
func TestMarshalJSONAllocations(t *testing.T) {
	r := benchReport()
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := r.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("MarshalJSON allocates %v times, want 1", allocs)
	}
}

// FuzzEncodeReport builds reports from arbitrary values and checks
// decode(encode(r)) == r. Strings that are not valid UTF-8 are compared
// after the encoder's replacement of each invalid byte with U+FFFD.
func FuzzEncodeReport(f *testing.F) {
	f.Add("Sender", "example.net", "mx: *.example.net", "X509 \"x\"\n", int64(5), int64(-1), []byte{192, 0, 2, 1}, int64(1709251200), int64(0), uint16(3))
	f.Add("\xff\u2028", "", "", "\x00", int64(1<<62), int64(0), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, int64(-62135596800), int64(999999999), uint16(0))
	f.Fuzz(func(t *testing.T, org, domain, line, reason string, n1, n2 int64, ip []byte, sec, nsec int64, shape uint16) {
		// Each invalid byte becomes U+FFFD, as ranging over a string does.
		valid := func(s string) string {
			var b strings.Builder
			for _, r := range s {
				b.WriteRune(r)
			}
			return b.String()
		}
		addr, _ := netip.AddrFromSlice(ip)
		start := time.Unix(sec, nsec%1e9).UTC()
		if y := start.Year(); y < 0 || y > 9999 {
			return // RFC 3339 cannot write it; MarshalJSON says so
		}
		r := &Report{
			OrganizationName: org,
			DateRange:        DateRange{Start: start, End: start.Add(time.Duration(n2 % 1e12))},
			ContactInfo:      reason,
			ReportID:         line,
		}
		if y := r.DateRange.End.Year(); y < 0 || y > 9999 {
			return
		}
		for i := range int(shape % 4) {
			pr := PolicyResult{
				Policy:  AppliedPolicy{Type: PolicyType(line), Domain: domain},
				Summary: Summary{TotalSuccessfulSessionCount: n1, TotalFailureSessionCount: n2},
			}
			if shape&4 != 0 {
				pr.Policy.PolicyString = []string{line, reason}
				pr.Policy.MXHost = []string{domain}
			}
			for range i {
				pr.FailureDetails = append(pr.FailureDetails, FailureDetail{
					ResultType: ResultType(reason), SendingMTAIP: addr, ReceivingMXHostname: domain,
					ReceivingMXHelo: org, ReceivingIP: addr, FailedSessionCount: n1,
					AdditionalInformation: line, FailureReasonCode: reason,
				})
			}
			r.Policies = append(r.Policies, pr)
		}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		got, err := decodeReportString(string(b))
		if (n1 < 0 || n2 < 0) && len(r.Policies) > 0 {
			// Negative counts are written but not read back.
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, "negative count") {
				t.Fatalf("decoding %s: error %v, want a negative count", b, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		// The expected report: strings made valid, addresses without zones.
		want := *r
		want.OrganizationName, want.ContactInfo, want.ReportID = valid(org), valid(reason), valid(line)
		want.Policies = nil
		for _, pr := range r.Policies {
			pr.Policy.Type, pr.Policy.Domain = PolicyType(valid(string(pr.Policy.Type))), valid(pr.Policy.Domain)
			if pr.Policy.PolicyString != nil {
				pr.Policy.PolicyString = []string{valid(line), valid(reason)}
				pr.Policy.MXHost = []string{valid(domain)}
			}
			var fds []FailureDetail
			for _, fd := range pr.FailureDetails {
				fd.ResultType = ResultType(valid(string(fd.ResultType)))
				fd.ReceivingMXHostname, fd.ReceivingMXHelo = valid(fd.ReceivingMXHostname), valid(fd.ReceivingMXHelo)
				fd.AdditionalInformation, fd.FailureReasonCode = valid(fd.AdditionalInformation), valid(fd.FailureReasonCode)
				fds = append(fds, fd)
			}
			pr.FailureDetails = fds
			want.Policies = append(want.Policies, pr)
		}
		if !sameReport(got, &want) {
			t.Fatalf("decode(encode(r)) != r:\n%#v\n%#v\n%s", got, &want, b)
		}
	})
}
