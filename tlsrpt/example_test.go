package tlsrpt_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

func ExampleParseRecord() {
	rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tlsrpt@example.com , https://reports.example.com/v1; x=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range rec.RUA {
		fmt.Println(u.Scheme, u)
	}
	fmt.Println(rec.Extensions)
	fmt.Println(rec)

	_, err = tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tlsrpt@example.com!10m")
	fmt.Println(errors.Is(err, tlsrpt.ErrInvalidRecord), err)
	// Output:
	// mailto mailto:tlsrpt@example.com
	// https https://reports.example.com/v1
	// [{x 1}]
	// v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1; x=1
	// true tlsrpt: invalid TLS-RPT record at column 42: rua URI "mailto:tlsrpt@example.com!10m": "!" must be percent-encoded (RFC 8460 §3)
}

func ExampleRecord_Destinations() {
	rec, _ := tlsrpt.ParseRecord("v=TLSRPTv1; rua=http://old.example.com/tlsrpt,mailto:tlsrpt@example.com")
	fmt.Println(len(rec.RUA), rec.Destinations())
	// Output: 2 [mailto:tlsrpt@example.com]
}

func ExampleSelectRecord() {
	// The TXT records at _smtp._tls.example.com.
	txts := []string{"v=spf1 -all", "v=TLSRPTv1;rua=mailto:tlsrpt@example.com"}
	rec, err := tlsrpt.SelectRecord(txts)
	fmt.Println(rec, err)

	_, err = tlsrpt.SelectRecord(append(txts, "v=TLSRPTv1;rua=mailto:other@example.com"))
	fmt.Println(errors.Is(err, tlsrpt.ErrMultipleRecords))
	// Output:
	// v=TLSRPTv1; rua=mailto:tlsrpt@example.com <nil>
	// true
}

// zone is a Resolver answering from a map, for the example.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txts, ok := z[name]; ok {
		return txts, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func ExampleLookupRecord() {
	resolver := zone{"_smtp._tls.example.com.": {"v=TLSRPTv1; rua=https://reports.example.com/v1"}}
	rec, err := tlsrpt.LookupRecord(context.Background(), resolver, "Example.COM.")
	fmt.Println(rec, err)

	_, err = tlsrpt.LookupRecord(context.Background(), resolver, "example.net")
	fmt.Println(errors.Is(err, tlsrpt.ErrNoRecord))
	// Output:
	// v=TLSRPTv1; rua=https://reports.example.com/v1 <nil>
	// true
}

// A report as Microsoft sends them: date-times without a time zone and an
// mx-host string.
const receivedReport = `{
  "organization-name": "Microsoft Corporation",
  "date-range": {"start-datetime": "2024-03-01T00:00:00", "end-datetime": "2024-03-01T23:59:59"},
  "contact-info": "tlsrpt-noreply@microsoft.com",
  "report-id": "133540416000000000+example.com",
  "policies": [{
    "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"],
               "policy-domain": "example.com", "mx-host": "mx.example.com"},
    "summary": {"total-successful-session-count": 1432, "total-failure-session-count": 2},
    "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "2001:DB8::25",
                         "receiving-mx-hostname": "mx.example.com", "failed-session-count": 2}]
  }]
}`

func ExampleParseReport() {
	r, err := tlsrpt.ParseReport(strings.NewReader(receivedReport))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := r.Policies[0]
	fmt.Println(r.OrganizationName, r.DateRange.Start, p.Policy.Domain, p.Policy.MXHost)
	f := p.FailureDetails[0]
	fmt.Println(f.ResultType, f.SendingMTAIP, f.FailedSessionCount)

	// The deviations read leniently are findings of Validate.
	var ve *tlsrpt.ValidationError
	if errors.As(r.Validate(), &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// Microsoft Corporation 2024-03-01 00:00:00 +0000 UTC example.com [mx.example.com]
	// certificate-expired 2001:db8::25 2
	// date-range.start-datetime: date-time "2024-03-01T00:00:00" has no time zone; read as UTC
	// date-range.end-datetime: date-time "2024-03-01T23:59:59" has no time zone; read as UTC
	// policies[0].policy.mx-host: a string, not an array of strings; read as an array of one
}

func ExampleDecoder() {
	// A receiver taking reports from the Internet may lower the limits.
	d := tlsrpt.Decoder{MaxCompressedSize: 64 << 10, MaxReportSize: 1 << 20}
	bomb := strings.NewReader("{" + strings.Repeat(" ", 2<<20) + "}")
	_, err := d.Decode(bomb)
	fmt.Println(errors.Is(err, tlsrpt.ErrTooLarge), err)

	_, err = d.Decode(strings.NewReader(`{"policies": {}}`))
	var se *tlsrpt.SyntaxError
	fmt.Println(errors.As(err, &se), se.Line, se.Column, se.Path)
	// Output:
	// true tlsrpt: invalid report: input longer than 65536 bytes (MaxCompressedSize)
	// true 1 14 policies
}

func ExampleReport_MarshalJSON() {
	r := &tlsrpt.Report{
		OrganizationName: "Sender Inc.",
		DateRange: tlsrpt.DateRange{
			Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			End:   time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC),
		},
		ContactInfo: "tlsrpt@sender.example",
		ReportID:    "2024-03-01_example.com",
		Policies: []tlsrpt.PolicyResult{{
			Policy:  tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 10, TotalFailureSessionCount: 1},
			FailureDetails: []tlsrpt.FailureDetail{{
				ResultType:          tlsrpt.ResultSTARTTLSNotSupported,
				SendingMTAIP:        netip.MustParseAddr("192.0.2.25"),
				ReceivingMXHostname: "mx.example.com",
				FailedSessionCount:  1,
			}},
		}},
	}
	b, err := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b), err)
	// Output:
	// {
	//   "organization-name": "Sender Inc.",
	//   "date-range": {
	//     "start-datetime": "2024-03-01T00:00:00Z",
	//     "end-datetime": "2024-03-02T00:00:00Z"
	//   },
	//   "contact-info": "tlsrpt@sender.example",
	//   "report-id": "2024-03-01_example.com",
	//   "policies": [
	//     {
	//       "policy": {
	//         "policy-type": "no-policy-found",
	//         "policy-domain": "example.com"
	//       },
	//       "summary": {
	//         "total-successful-session-count": 10,
	//         "total-failure-session-count": 1
	//       },
	//       "failure-details": [
	//         {
	//           "result-type": "starttls-not-supported",
	//           "sending-mta-ip": "192.0.2.25",
	//           "receiving-mx-hostname": "mx.example.com",
	//           "failed-session-count": 1
	//         }
	//       ]
	//     }
	//   ]
	// } <nil>
}

func ExampleReport_UnmarshalJSON() {
	// A report inside another JSON document, read with encoding/json.
	var stored struct {
		Received time.Time     `json:"received"`
		Report   tlsrpt.Report `json:"report"`
	}
	err := json.Unmarshal([]byte(`{"received": "2024-03-02T04:00:00Z", "report": `+receivedReport+`}`), &stored)
	fmt.Println(stored.Report.OrganizationName, stored.Report.Policies[0].Summary.TotalSuccessfulSessionCount, err)
	// Output: Microsoft Corporation 1432 <nil>
}

func ExampleEncodeGzip() {
	r, _ := tlsrpt.ParseReport(strings.NewReader(receivedReport))
	var body bytes.Buffer // the body of an application/tlsrpt+gzip POST
	if err := tlsrpt.EncodeGzip(&body, r); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Bytes()[:2])
	again, err := tlsrpt.ParseReport(&body)
	fmt.Println(again.ReportID, again.DateRange.End, err)
	// Written strictly, the report has no deviations left.
	fmt.Println(again.Validate())
	// Output:
	// [31 139]
	// 133540416000000000+example.com 2024-03-01 23:59:59 +0000 UTC <nil>
	// <nil>
}

func ExampleEncoder() {
	// A sender writing the day's reports for many domains reuses one
	// Encoder (per goroutine).
	var enc tlsrpt.Encoder
	for _, domain := range []string{"example.com", "example.net"} {
		r := &tlsrpt.Report{
			OrganizationName: "Sender Inc.",
			DateRange:        tlsrpt.DateRange{Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)},
			ContactInfo:      "tlsrpt@sender.example",
			ReportID:         "2024-03-01_" + domain,
			Policies: []tlsrpt.PolicyResult{{
				Policy:  tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: domain},
				Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 7},
			}},
		}
		var body bytes.Buffer
		if err := enc.EncodeGzip(&body, r); err != nil {
			fmt.Println(err)
			return
		}
		back, err := tlsrpt.ParseReport(&body)
		fmt.Println(back.ReportID, err)
	}
	// Output:
	// 2024-03-01_example.com <nil>
	// 2024-03-01_example.net <nil>
}

func ExampleReport_Validate() {
	r := &tlsrpt.Report{
		OrganizationName: "Sender Inc.",
		DateRange:        tlsrpt.DateRange{Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC)},
		ContactInfo:      "tlsrpt@sender.example",
		ReportID:         "r1",
		Policies: []tlsrpt.PolicyResult{{
			Policy:  tlsrpt.AppliedPolicy{Type: "STS", Domain: "bücher.example"},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 3, TotalFailureSessionCount: -1},
		}},
	}
	err := r.Validate()
	fmt.Println(errors.Is(err, tlsrpt.ErrInvalidReport))
	for _, p := range err.(*tlsrpt.ValidationError).Problems {
		fmt.Println(p.Path, "-", p.Message)
	}
	// Output:
	// true
	// policies[0].policy.policy-type - unknown policy type "STS"
	// policies[0].policy.policy-domain - not a domain name in A-labels: "bücher.example"
	// policies[0].summary.total-failure-session-count - negative
}

func ExampleClassify() {
	// What a TLS handshake returns for an expired MX certificate, wrapped by
	// the MTA.
	handshake := &tls.CertificateVerificationError{
		Err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time 2024-03-02T00:00:00Z is after 2024-03-01T00:00:00Z"},
	}
	err := fmt.Errorf("delivery to mx.example.com: %w", handshake)
	result, reason := tlsrpt.Classify(err)
	fmt.Printf("%s %q\n", result, reason)

	// The MX did not offer STARTTLS.
	result, reason = tlsrpt.Classify(fmt.Errorf("mx.example.com: %w", tlsrpt.ErrSTARTTLSNotSupported))
	fmt.Printf("%s %q\n", result, reason)

	// The certificate does not name the MX host.
	result, reason = tlsrpt.Classify(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mx.example.com"})
	fmt.Printf("%s %q\n", result, reason)
	// Output:
	// certificate-expired "X509_V_ERR_CERT_HAS_EXPIRED"
	// starttls-not-supported ""
	// certificate-host-mismatch "X509_V_ERR_HOSTNAME_MISMATCH"
}

func ExampleParseFileName() {
	f, err := tlsrpt.ParseFileName("mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz")
	fmt.Println(f.Sender, f.PolicyDomain, f.Begin, f.End, f.UniqueID, f.Gzip, err)

	_, err = tlsrpt.ParseFileName("sender.example!bücher.example!1470013207!1470186007.json")
	fmt.Println(err)
	// Output:
	// mail.sndr.example.com example.net 2016-08-01 01:00:07 +0000 UTC 2016-08-03 01:00:07 +0000 UTC 001 true <nil>
	// tlsrpt: invalid report file name: policy domain "bücher.example" is not a domain name in A-labels
}

func ExampleFileName_String() {
	f := tlsrpt.FileName{
		Sender:       "sender.example",
		PolicyDomain: "example.com",
		Begin:        time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		End:          time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC),
		Gzip:         true,
	}
	fmt.Println(f, f.Validate())
	fmt.Println(tlsrpt.MediaTypeGzip)
	// Output:
	// sender.example!example.com!1709251200!1709337600.json.gz <nil>
	// application/tlsrpt+gzip
}

// Past a count limit, the error names it: here two failure details are
// allowed and the report has three, each an empty object.
func ExampleLimitError() {
	d := tlsrpt.Decoder{MaxFailureDetails: 2}
	_, err := d.Decode(strings.NewReader(`{"policies":[{"failure-details":[{},{},{}]}]}`))
	var le *tlsrpt.LimitError
	if errors.As(err, &le) {
		fmt.Println(le.Limit, le.Max, le.Path, errors.Is(err, tlsrpt.ErrTooLarge))
	}
	fmt.Println(err)
	// Output:
	// MaxFailureDetails 2 policies[0].failure-details true
	// tlsrpt: invalid report: policies[0].failure-details: more than 2 failure details in the report (MaxFailureDetails)
}

// A ValidationError lists the first MaxProblems problems and counts the
// others, so that its size does not grow with the report.
func ExampleValidationError() {
	details := strings.Repeat(`{"result-type":"x","sending-mta-ip":"192.0.2.1","failed-session-count":0},`, 150)
	r, err := tlsrpt.ParseReport(strings.NewReader(`{"organization-name":"o","contact-info":"a@b.example","report-id":"r",` +
		`"date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-02T00:00:00Z"},` +
		`"policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},` +
		`"summary":{"total-successful-session-count":0,"total-failure-session-count":0},` +
		`"failure-details":[` + details + `{"result-type":"y","sending-mta-ip":"192.0.2.1","failed-session-count":0}]}]}`))
	if err != nil {
		log.Fatal(err)
	}
	var ve *tlsrpt.ValidationError
	if errors.As(r.Validate(), &ve) {
		fmt.Println(len(ve.Problems), ve.Omitted)
		fmt.Println(ve.Problems[0])
	}
	// Output:
	// 100 51
	// policies[0].failure-details[0].result-type: unknown result type "x"
}
