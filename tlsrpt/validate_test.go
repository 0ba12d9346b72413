package tlsrpt

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validReport returns a report that passes Validate.
func validReport() *Report {
	return &Report{
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
					PolicyString: []string{"version: STSv1", "mode: enforce", "mx: *.mx.example.net", "max_age: 86400"},
					Domain:       "example.net",
					MXHost:       []string{"*.mx.example.net"},
				},
				Summary: Summary{TotalSuccessfulSessionCount: 10, TotalFailureSessionCount: 3},
				FailureDetails: []FailureDetail{
					{ResultType: ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"),
						ReceivingMXHostname: "a.mx.example.net", FailedSessionCount: 2},
					{ResultType: ResultSTARTTLSNotSupported, SendingMTAIP: netip.MustParseAddr("2001:db8::1"),
						ReceivingIP: netip.MustParseAddr("198.51.100.1"), FailedSessionCount: 1,
						AdditionalInformation: "https://sender.example/tlsrpt?id=1#x"},
				},
			},
			{
				Policy:  AppliedPolicy{Type: PolicyTLSA, PolicyString: []string{"3 1 1 0123456789abcdef"}, Domain: "xn--bcher-kva.example"},
				Summary: Summary{TotalSuccessfulSessionCount: 1},
			},
			{
				Policy:  AppliedPolicy{Type: PolicyNotFound, Domain: "other.example"},
				Summary: Summary{TotalSuccessfulSessionCount: 1},
			},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := validReport().Validate(); err != nil {
		t.Fatalf("valid report: %v", err)
	}
	tests := []struct {
		name   string
		change func(r *Report)
		want   []string
	}{
		{"no policies is fine", func(r *Report) { r.Policies = nil }, nil},
		{"full day 00:00 to 24:00 is fine", func(r *Report) { r.DateRange.End = r.DateRange.Start.AddDate(0, 0, 1) }, nil},
		{"fewer failure details than failures is fine", func(r *Report) { r.Policies[0].Summary.TotalFailureSessionCount = 10 }, nil},
		{"unusual date range is fine", func(r *Report) { r.DateRange.End = r.DateRange.Start.Add(7 * 24 * time.Hour) }, nil},
		{"required strings", func(r *Report) { r.OrganizationName, r.ContactInfo, r.ReportID = "", "", "" }, []string{
			"organization-name: missing", "contact-info: missing", "report-id: missing"}},
		{"missing dates", func(r *Report) { r.DateRange = DateRange{} }, []string{
			"date-range.start-datetime: missing", "date-range.end-datetime: missing"}},
		{"end before start", func(r *Report) { r.DateRange.End = r.DateRange.Start.Add(-time.Second) }, []string{
			"date-range.end-datetime: not after start-datetime"}},
		{"year 10000", func(r *Report) { r.DateRange.End = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, []string{
			"date-range.end-datetime: year outside 0000-9999, which RFC 3339 cannot express"}},
		{"policy type", func(r *Report) { r.Policies[0].Policy.Type = "STS"; r.Policies[1].Policy.Type = "" }, []string{
			`policies[0].policy.policy-type: unknown policy type "STS"`,
			"policies[1].policy.policy-type: missing"}},
		{"policy domain", func(r *Report) {
			r.Policies[0].Policy.Domain = "bücher.example"
			r.Policies[1].Policy.Domain = ""
			r.Policies[2].Policy.Domain = "example.net."
		}, []string{
			`policies[0].policy.policy-domain: not a domain name in A-labels: "bücher.example"`,
			"policies[1].policy.policy-domain: missing",
			`policies[2].policy.policy-domain: not a domain name in A-labels: "example.net."`}},
		{"policy strings", func(r *Report) { r.Policies[0].Policy.PolicyString = nil; r.Policies[1].Policy.PolicyString = nil }, []string{
			"policies[0].policy.policy-string: missing for policy type sts",
			"policies[1].policy.policy-string: missing for policy type tlsa"}},
		{"mx-host", func(r *Report) { r.Policies[0].Policy.MXHost = nil }, []string{
			"policies[0].policy.mx-host: missing, though the policy has mx patterns"}},
		{"mx-host not needed without mx lines", func(r *Report) {
			r.Policies[0].Policy.MXHost = nil
			r.Policies[0].Policy.PolicyString = []string{"version: STSv1", "mode: none", "max_age: 86400"}
		}, nil},
		{"mx-host patterns", func(r *Report) {
			r.Policies[0].Policy.MXHost = []string{"*.ok.example", "**.x.example", "mäil.example", "*"}
		}, []string{
			`policies[0].policy.mx-host[1]: not an MX host pattern in A-labels: "**.x.example"`,
			`policies[0].policy.mx-host[2]: not an MX host pattern in A-labels: "mäil.example"`,
			`policies[0].policy.mx-host[3]: not an MX host pattern in A-labels: "*"`}},
		{"negative counts", func(r *Report) {
			r.Policies[1].Summary = Summary{TotalSuccessfulSessionCount: -1, TotalFailureSessionCount: -2}
			r.Policies[0].FailureDetails[1].FailedSessionCount = -1
		}, []string{
			"policies[0].failure-details[1].failed-session-count: negative",
			"policies[1].summary.total-successful-session-count: negative",
			"policies[1].summary.total-failure-session-count: negative"}},
		{"failure counts above the total (Mail.ru)", func(r *Report) { r.Policies[0].Summary.TotalFailureSessionCount = 2 }, []string{
			"policies[0].summary.total-failure-session-count: 2 is less than the sum of the failed-session-counts of the failure details (3)"}},
		{"result types", func(r *Report) {
			r.Policies[0].FailureDetails[0].ResultType = "Certificate-Expired"
			r.Policies[0].FailureDetails[1].ResultType = ""
		}, []string{
			`policies[0].failure-details[0].result-type: unknown result type "Certificate-Expired"`,
			"policies[0].failure-details[1].result-type: missing"}},
		{"addresses", func(r *Report) {
			r.Policies[0].FailureDetails[0].SendingMTAIP = netip.Addr{}
			r.Policies[0].FailureDetails[1].SendingMTAIP = netip.MustParseAddr("fe80::1%eth0")
			r.Policies[0].FailureDetails[1].ReceivingIP = netip.MustParseAddr("fe80::2%eth0")
		}, []string{
			"policies[0].failure-details[0].sending-mta-ip: missing",
			`policies[0].failure-details[1].sending-mta-ip: not an IP address: "fe80::1%eth0" has a zone`,
			`policies[0].failure-details[1].receiving-ip: not an IP address: "fe80::2%eth0" has a zone`}},
		{"additional-information", func(r *Report) { r.Policies[0].FailureDetails[1].AdditionalInformation = "see our website" }, []string{
			`policies[0].failure-details[1].additional-information: not a URI: "see our website"`}},
	}
	for _, tt := range tests {
		r := validReport()
		tt.change(r)
		err := r.Validate()
		var got []string
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidReport) {
				t.Errorf("%s: error %T does not match *ValidationError and ErrInvalidReport", tt.name, err)
				continue
			}
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "tlsrpt: invalid report: ") || !strings.Contains(msg, strings.Join(got, "; ")) {
				t.Errorf("%s: Error() = %q", tt.name, msg)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: findings\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

// Findings from decoding and from the values come together, in document
// order, without duplicates for the same member.
func TestValidateDecodedDeviations(t *testing.T) {
	data := `{"organization-name":"o","date-range":{"start-datetime":"2024-03-01T00:00:00","end-datetime":"2024-03-02T00:00:00Z"},"contact-info":"c","report-id":"x",` +
		`"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example","policy-string":["mx: b.example"],"mx-host":"b.example"},"summary":{"total-successful-session-count":1},` +
		`"failure-details":[{"result-type":"validation-failure","sending-mta-ip":"","failed-session-count":1}]},` +
		`{"policy":{"policy-type":"STS"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`
	r, err := decodeReportString(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`date-range.start-datetime: date-time "2024-03-01T00:00:00" has no time zone; read as UTC`,
		"policies[0].policy.mx-host: a string, not an array of strings; read as an array of one",
		"policies[0].summary.total-failure-session-count: missing",
		"policies[0].failure-details[0].sending-mta-ip: empty string, not an IP address",
		`policies[1].policy.policy-type: unknown policy type "STS"`,
		"policies[1].policy.policy-domain: missing",
	}
	checkProblems(t, "decoded", r, want)
}
