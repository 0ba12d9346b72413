package mtasts_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// A policy host for many domains: the Handler asks for the policy of the
// domain named by the Host header and serves it in canonical form.
func ExampleHandler() {
	policies := map[string]*mtasts.Policy{ // from a database, in production
		"example.com": exampleMust(mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, "mx1.example.com", "*.mail.example.net")),
	}
	h := &mtasts.Handler{
		Policy: func(_ context.Context, domain string) (*mtasts.Policy, error) {
			return policies[domain], nil // nil: 404 Not Found
		},
	}
	// Serve h with TLS certificates for every mta-sts.<domain>, e.g.
	// http.ListenAndServeTLS or an autocert.Manager. Here: two requests.
	for _, host := range []string{"mta-sts.example.com", "mta-sts.example.org"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "https://"+host+mtasts.PolicyPath, nil))
		fmt.Println(host, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
		if rec.Code == 200 {
			fmt.Printf("%q\n", rec.Body)
		}
	}
	// Output:
	// mta-sts.example.com 200 text/plain; charset=utf-8 max-age=60
	// "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 1209600\r\n"
	// mta-sts.example.org 404 text/plain; charset=utf-8
}

// The TXT record that announces a policy, with an id derived from the
// policy's content: publish it after the policy itself (RFC 8461 §8.1).
func ExampleRecordTXT() {
	p := exampleMust(mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, "mx1.example.com"))
	rr := exampleMust(mtasts.RecordTXT("example.com", &mtasts.Record{ID: mtasts.PolicyID(p)}, time.Hour))
	fmt.Println(rr)

	// Long records are split into strings of 255 bytes.
	long := &mtasts.Record{ID: "20240101", Extensions: []mtasts.Extension{{Name: "note", Value: strings.Repeat("x", 300)}}}
	rr = exampleMust(mtasts.RecordTXT("example.com", long, time.Hour))
	fmt.Println(strings.Count(rr.String(), `"`)/2, len(rr.Value))
	// Output:
	// _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=fd45f86f96fc693ca2c9a66bab09fc07"
	// 2 327
}

// A record this package has no builder for, such as the TLS-RPT record of
// RFC 8460 §3 that a domain with a policy should publish too, is a literal.
func ExampleDNSRecord() {
	rr := mtasts.DNSRecord{Name: "_smtp._tls.example.com.", Type: "TXT", TTL: 24 * time.Hour,
		Value: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}
	if err := rr.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rr)
	// Output:
	// _smtp._tls.example.com. 86400 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"
}

// A hosting provider that serves the policy of a customer's domain (RFC
// 8461 §8.2) can also control its id: the customer delegates the TXT record.
func ExampleRecordCNAME() {
	fmt.Println(exampleMust(mtasts.RecordCNAME("customer.example", "provider.example", time.Hour)))
	// Output:
	// _mta-sts.customer.example. 3600 IN CNAME _mta-sts.provider.example.
}

// A hosting provider serves the policy of a customer's domain (RFC 8461
// §8.2): the customer points the policy host's name at the provider, which
// holds a certificate for mta-sts.customer.example.
func ExamplePolicyHostCNAME() {
	fmt.Println(exampleMust(mtasts.PolicyHostCNAME("customer.example", "mta-sts.provider.example", time.Hour)))
	// Output:
	// mta-sts.customer.example. 3600 IN CNAME mta-sts.provider.example.
}
