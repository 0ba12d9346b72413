package tlsrpt_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// dayReport returns the report of example.com for 2024-09-03 that a
// Collector made.
func dayReport() *tlsrpt.Report {
	now := time.Date(2024, 9, 3, 10, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{
		OrganizationName: "Sender Mail",
		ContactInfo:      "tlsrpt@sender.example",
		Now:              func() time.Time { return now },
	}
	pc := c.Counter(tlsrpt.AppliedPolicy{
		Type:         tlsrpt.PolicySTS,
		Domain:       "example.com",
		PolicyString: []string{"version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 86400"},
		MXHost:       []string{"mx1.example.com"},
	})
	pc.Success()
	pc.Failure(tlsrpt.FailureDetail{
		ResultType:          tlsrpt.ResultCertificateHostMismatch,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx1.example.com",
		ReceivingIP:         netip.MustParseAddr("198.51.100.25"),
	})
	now = now.Add(24 * time.Hour)
	reports, err := c.Reports(context.Background(), now.Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	return reports[0]
}

// A report receiver: the Handler serves the https: rua URI of a domain's
// TLS-RPT record and hands each report over. What outlives the call is
// r.Clone(), whose strings do not keep the decoded JSON text alive.
func ExampleHandler() {
	var (
		mu   sync.Mutex
		kept []*tlsrpt.Report
	)
	h := &tlsrpt.Handler{
		Report: func(ctx context.Context, r *tlsrpt.Report) error {
			// Store the report; an error makes the sender try again later.
			mu.Lock()
			kept = append(kept, r.Clone())
			mu.Unlock()
			p := r.Policies[0]
			fmt.Printf("report from %s about %s: %d successful, %d failed\n",
				r.OrganizationName, p.Policy.Domain, p.Summary.TotalSuccessfulSessionCount, p.Summary.TotalFailureSessionCount)
			return nil
		},
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()

	post := func(contentType, body string) {
		resp, err := srv.Client().Post(srv.URL, contentType, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	post(tlsrpt.MediaTypeJSON, `{
		"organization-name": "Company-X",
		"date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
		"contact-info": "sts-reporting@company-x.example",
		"report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
		"policies": [{
			"policy": {"policy-type": "no-policy-found", "policy-domain": "company-y.example"},
			"summary": {"total-successful-session-count": 5326, "total-failure-session-count": 0}
		}]
	}`)
	post(tlsrpt.MediaTypeJSON, `{"policies": {}}`)
	post("text/plain", "hello")
	mu.Lock()
	fmt.Println(len(kept), "report kept")
	mu.Unlock()
	// Output:
	// report from Company-X about company-y.example: 5326 successful, 0 failed
	// 200 OK
	// 400 Bad Request
	// 415 Unsupported Media Type
	// 1 report kept
}

// A decoded report's strings are substrings of its JSON text, so keeping
// one keeps all of the text; a clone's strings own their memory and Validate
// lists the same findings.
func ExampleReport_Clone() {
	r, err := tlsrpt.ParseReport(strings.NewReader(`{"organization-name":"Company-X",` +
		`"date-range":{"start-datetime":"2016-04-01T00:00:00","end-datetime":"2016-04-01T23:59:59Z"},` +
		`"contact-info":"sts-reporting@company-x.example","report-id":"5065427c",` +
		`"policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"company-y.example"},` +
		`"summary":{"total-successful-session-count":5326,"total-failure-session-count":0}}]}`))
	if err != nil {
		log.Fatal(err)
	}
	byOrg := map[string]*tlsrpt.Report{}
	c := r.Clone()
	byOrg[c.OrganizationName] = c // keeps c, not the JSON text
	fmt.Println(byOrg["Company-X"].Policies[0].Policy.Domain)
	fmt.Println(c.Validate())
	// Output:
	// company-y.example
	// tlsrpt: invalid report: date-range.start-datetime: date-time "2016-04-01T00:00:00" has no time zone; read as UTC
}

// The Report function of a Handler learns from its context which request
// brought the report: the client's address, the URL it posted to.
func ExampleRequestFromContext() {
	h := &tlsrpt.Handler{
		Report: func(ctx context.Context, r *tlsrpt.Report) error {
			if req, ok := tlsrpt.RequestFromContext(ctx); ok {
				host, _, _ := net.SplitHostPort(req.RemoteAddr)
				fmt.Printf("report from %s posted to %s from %s\n", r.OrganizationName, req.URL.Path, host)
			}
			return nil
		},
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	var body bytes.Buffer
	if err := tlsrpt.EncodeGzip(&body, dayReport()); err != nil {
		log.Fatal(err)
	}
	resp, err := srv.Client().Post(srv.URL+"/v1/tlsrpt", tlsrpt.MediaTypeGzip, &body)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// report from Sender Mail posted to /v1/tlsrpt from 127.0.0.1
	// 200 OK
}

// Reading the report out of a report email, here a real one from Google.
func ExampleParseMessage() {
	f, err := os.Open("testdata/google-2024.eml")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := tlsrpt.ParseMessage(f)
	if err != nil {
		log.Fatal(err)
	}
	p := r.Policies[0]
	fmt.Println(r.OrganizationName, r.ReportID)
	fmt.Println(r.DateRange.Start.Format(time.RFC3339), r.DateRange.End.Format(time.RFC3339))
	fmt.Println(p.Policy.Type, p.Policy.Domain, p.Summary.TotalSuccessfulSessionCount, p.Summary.TotalFailureSessionCount)

	_, err = tlsrpt.ParseMessage(strings.NewReader("Subject: hello\r\n\r\nNo report here.\r\n"))
	fmt.Println(err)
	// Output:
	// Google Inc. 2024-09-03T00:00:00Z_cardinalhealth.ca
	// 2024-09-03T00:00:00Z 2024-09-03T23:59:59Z
	// no-policy-found cardinalhealth.ca 48 0
	// tlsrpt: no TLS report in the message
}

// Delivering a report to the destinations of the domain's TLS-RPT record,
// here one https: URI served by a Handler.
func ExampleSender_Send() {
	received := make(chan *tlsrpt.Report, 1)
	srv := httptest.NewTLSServer(&tlsrpt.Handler{Report: func(ctx context.Context, r *tlsrpt.Report) error {
		received <- r
		return nil
	}})
	defer srv.Close()

	// The record would come from tlsrpt.LookupRecord(ctx, resolver, "example.com").
	rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=" + srv.URL + "/v1/tlsrpt")
	if err != nil {
		log.Fatal(err)
	}
	s := &tlsrpt.Sender{
		From:       "tlsrpt@sender.example",
		HTTPClient: srv.Client(), // trusts the test server
		Mail: func(ctx context.Context, m *tlsrpt.Message) error {
			return m.SendSMTP(ctx, "smtp.sender.example:587", nil, nil) // for mailto: destinations
		},
	}
	sent := dayReport()
	if err := s.Send(context.Background(), sent, rec); err != nil {
		log.Fatal(err)
	}
	got := <-received
	fmt.Println("delivered:", got.ReportID == sent.ReportID)
	fmt.Println(got.Policies[0].Policy.Domain, got.Policies[0].FailureDetails[0].ResultType)
	// Output:
	// delivered: true
	// example.com certificate-host-mismatch
}

// One POST, without retries.
func ExampleSender_Post() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "over quota", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	s := &tlsrpt.Sender{HTTPClient: srv.Client()}
	err := s.Post(context.Background(), u, dayReport())
	if he, ok := err.(*tlsrpt.HTTPError); ok {
		fmt.Println(he.StatusCode, "temporary:", he.Temporary())
	}
	// Output:
	// 429 temporary: true
}

// The report email of RFC 8460 §5.3, to be DKIM-signed and sent by any
// SMTP client.
func ExampleSender_Message() {
	s := &tlsrpt.Sender{
		From: "tlsrpt@sender.example",
		Now:  func() time.Time { return time.Date(2024, 9, 4, 2, 0, 0, 0, time.UTC) },
	}
	m, err := s.Message(context.Background(), dayReport(), []string{"tlsrpt@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("envelope:", m.From, m.To)
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range []string{"From", "To", "Date", "TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Required"} {
		fmt.Printf("%s: %s\n", h, msg.Header.Get(h))
	}
	subject := msg.Header.Get("Subject")
	fmt.Println(subject[:strings.Index(subject, "Report-ID:")+len("Report-ID:")])
	ct := msg.Header.Get("Content-Type")
	fmt.Println(ct[:strings.Index(ct, " boundary")])
	// Output:
	// envelope: tlsrpt@sender.example [tlsrpt@example.com]
	// From: <tlsrpt@sender.example>
	// To: tlsrpt@example.com
	// Date: Wed, 04 Sep 2024 02:00:00 +0000
	// TLS-Report-Domain: example.com
	// TLS-Report-Submitter: sender.example
	// TLS-Required: No
	// Report Domain: example.com Submitter: sender.example Report-ID:
	// multipart/report; report-type="tlsrpt";
}

// Sending a report email through an SMTP relay requires STARTTLS: here a
// tiny server on the loopback interface that does not offer it gets
// nothing (see SMTPRelay.AllowPlaintext).
func ExampleMessage_SendSMTP() {
	relay := smtpSink()
	s := &tlsrpt.Sender{From: "tlsrpt@sender.example"}
	m, err := s.Message(context.Background(), dayReport(), []string{"tlsrpt@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	err = m.SendSMTP(context.Background(), relay, nil, nil)
	fmt.Println(errors.Is(err, tlsrpt.ErrNoSTARTTLS), err)
	// Output:
	// true tlsrpt: the SMTP relay does not offer STARTTLS
}

// A Sender that mails reports through a relay. Dial chooses how to reach
// it (through a proxy, from a source address); here it connects to a tiny
// server on the loopback interface that stands in for
// smtp.sender.example and prints what it is given. The stand-in offers no
// STARTTLS, which only AllowPlaintext accepts.
func ExampleSMTPRelay() {
	sink := smtpSink()
	relay := &tlsrpt.SMTPRelay{
		Addr:           "smtp.sender.example:587",
		EHLOName:       "mta1.sender.example",
		AllowPlaintext: true, // a relay on the loopback interface only
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, sink)
		},
	}
	s := &tlsrpt.Sender{From: "tlsrpt@sender.example", Mail: relay.Send}
	rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Send(context.Background(), dayReport(), rec); err != nil {
		log.Fatal(err)
	}
	// Output:
	// MAIL FROM:<tlsrpt@sender.example>
	// RCPT TO:<tlsrpt@example.com>
	// DATA: a message with a report from example.com
}

// smtpSink starts an SMTP server on 127.0.0.1 that takes one message and
// prints the envelope.
func smtpSink() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 sink\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
				fmt.Println(cmd)
				fmt.Fprint(c, "250 ok\r\n")
			case cmd == "DATA":
				fmt.Fprint(c, "354 go on\r\n")
				var data strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				if msg, err := mail.ReadMessage(strings.NewReader(data.String())); err == nil {
					fmt.Println("DATA: a message with a report from", msg.Header.Get("TLS-Report-Domain"))
				}
				fmt.Fprint(c, "250 queued\r\n")
			case cmd == "QUIT":
				fmt.Fprint(c, "221 bye\r\n")
				return
			default:
				fmt.Fprint(c, "250 sink\r\n")
			}
		}
	}()
	return ln.Addr().String()
}
