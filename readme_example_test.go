package smtpsec_test

// The code samples of README.md, kept here so that they compile. They need
// real DNS, policy hosts and mail servers, so they have no Output comment
// and are not run; the runnable versions are the Example functions of each
// package and the programs under examples/.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// starttls and deliver stand for an MTA's own SMTP client.
func starttls(host string, conf *tls.Config) (io.Closer, error) { return nil, nil }
func deliver(conn io.Closer)                                    {}

// An MTA looks up the policy, walks its MX hosts and records the outcome.
func Example_mtaAuthor() {
	ctx := context.Background()
	mxHosts := []string{"mx1.example.com", "mx2.example.com"}

	cache, err := policycache.New(policycache.Config{}) // resolv.conf, MemoryStore, time.Now
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	collector := &tlsrpt.Collector{OrganizationName: "Example Mail", ContactInfo: "mailto:tlsrpt@example.net"}

	res, err := cache.Lookup(ctx, "example.com") // shared, cached, §5.1 rules
	if err != nil {
		log.Fatal(err) // only a bad domain, a cancelled ctx or a closed cache
	}
	counter := collector.Counter(res.AppliedPolicy) // what TLS-RPT calls the applied policy
	for _, mx := range mxHosts {                    // in preference order
		if res.Enforced() && !res.AllowsMX(mx) {
			continue // RFC 8461 §4.1: not a valid MX under the policy
		}
		conn, err := starttls(mx, mtasts.MXTLSConfig(mx, mtasts.VerifyOptions{}))
		if err != nil {
			kind, reason := tlsrpt.Classify(err) // certificate-expired, starttls-not-supported, ...
			counter.Failure(tlsrpt.FailureDetail{ResultType: kind, ReceivingMXHostname: mx, FailureReasonCode: reason})
			if res.Enforced() {
				continue // §5: never deliver over a failed check; try the next MX, else defer
			}
			// testing mode: deliver without the checks, the failure is reported
		} else {
			counter.Success()
		}
		deliver(conn)
		break
	}
}

// A policy host builds a policy, derives its id, prints the TXT record,
// serves the policy and inspects the live setup.
func Example_policyHost() {
	ctx := context.Background()
	lookupPolicy := func(ctx context.Context, domain string) (*mtasts.Policy, error) {
		return nil, mtasts.ErrUnknownDomain
	}

	p, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, "mx1.example.com", "*.mail.example.com")
	if err != nil {
		log.Fatal(err)
	}
	id := mtasts.PolicyID(p) // changes whenever the policy does
	txt, err := mtasts.RecordTXT("example.com", &mtasts.Record{ID: id}, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(txt)                                        // _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=..."
	http.Handle("/", &mtasts.Handler{Policy: lookupPolicy}) // serves mta-sts.<domain> for every domain
	result, err := inspect.Domain(ctx, "example.com", inspect.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range result.Findings {
		fmt.Println(f)
	}
}

// A report receiver accepts POSTed reports and reads emailed ones.
func Example_reportReceiver() {
	var emailReader, fileReader io.Reader
	store := func(r *tlsrpt.Report) error { return nil }

	http.Handle("/tlsrpt", &tlsrpt.Handler{Report: func(ctx context.Context, r *tlsrpt.Report) error {
		return store(r) // decoded, size-capped; r.Validate() lists every RFC 8460 finding
	}})
	report, err := tlsrpt.ParseMessage(emailReader) // multipart/report; report-type=tlsrpt
	if err != nil {
		log.Fatal(err)
	}
	report, err = tlsrpt.ParseReport(fileReader) // .json or .json.gz
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.ReportID)
}
