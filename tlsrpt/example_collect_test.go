package tlsrpt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// The recording flow of a sending MTA: one counter per policy, one call per
// SMTP session, a Flush now and then, and the reports of each finished UTC
// day. (An MTA using package policycache makes the per-session call with
// Session.Record, which picks the result type, reason code and addresses.)
func ExampleCollector() {
	ctx := context.Background()
	now := time.Date(2024, 9, 3, 14, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{
		OrganizationName: "Sender Mail",
		ContactInfo:      "mailto:tlsrpt@sender.example",
		Now:              func() time.Time { return now }, // nil in production: the system clock
	}

	// The policy the MTA applied to mail for example.com (from its MTA-STS
	// cache). Keep the counter with the cached policy.
	policy := c.Counter(tlsrpt.AppliedPolicy{
		Type:         tlsrpt.PolicySTS,
		Domain:       "example.com",
		PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 604800"},
		MXHost:       []string{"mx1.example.com"},
	})
	for range 3 {
		policy.Success()
	}
	policy.Failure(tlsrpt.FailureDetail{
		ResultType:          tlsrpt.ResultCertificateExpired,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx1.example.com",
		ReceivingIP:         netip.MustParseAddr("198.51.100.25"),
		FailureReasonCode:   "X509_V_ERR_CERT_HAS_EXPIRED",
	})
	// Without a policy: no-policy-found sessions are reported too.
	c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.net"}).Success()

	if err := c.Flush(ctx); err != nil { // every few minutes, and at exit
		log.Fatal(err)
	}

	now = now.Add(24 * time.Hour) // the next day: September 3 is over
	reports, err := c.Reports(ctx, time.Date(2024, 9, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range reports {
		fmt.Println(r.Policies[0].Policy.Domain, r.OrganizationName, r.DateRange.Start.Format(time.RFC3339), r.DateRange.End.Format(time.RFC3339))
		for _, p := range r.Policies {
			fmt.Printf("  %s: %d successful, %d failed\n", p.Policy.Type, p.Summary.TotalSuccessfulSessionCount, p.Summary.TotalFailureSessionCount)
			for _, d := range p.FailureDetails {
				fmt.Printf("    %d× %s at %s (%s)\n", d.FailedSessionCount, d.ResultType, d.ReceivingIP, d.FailureReasonCode)
			}
		}
	}
	// Output:
	// example.com Sender Mail 2024-09-03T00:00:00Z 2024-09-03T23:59:59Z
	//   sts: 3 successful, 1 failed
	//     1× certificate-expired at 198.51.100.25 (X509_V_ERR_CERT_HAS_EXPIRED)
	// example.net Sender Mail 2024-09-03T00:00:00Z 2024-09-03T23:59:59Z
	//   no-policy-found: 1 successful, 0 failed
}

// Past MaxFailureDetails distinct details per policy and day, failures are
// still counted, in one detail per result type without receiving endpoints.
func ExampleCollector_Overflow() {
	now := time.Date(2024, 9, 3, 14, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{
		OrganizationName:  "Sender Mail",
		ContactInfo:       "tlsrpt@sender.example",
		MaxFailureDetails: 2,
		Now:               func() time.Time { return now },
	}
	policy := c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"})
	for i := range 5 {
		policy.Failure(tlsrpt.FailureDetail{
			ResultType:   tlsrpt.ResultSTARTTLSNotSupported,
			SendingMTAIP: netip.MustParseAddr("192.0.2.1"),
			ReceivingIP:  netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
		})
	}
	fmt.Println("folded:", c.Overflow())

	now = now.Add(24 * time.Hour)
	reports, err := c.Reports(context.Background(), now.Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	p := reports[0].Policies[0]
	fmt.Println("failed sessions:", p.Summary.TotalFailureSessionCount)
	for _, d := range p.FailureDetails {
		if d.ReceivingIP.IsValid() {
			fmt.Printf("%d× %s at %v\n", d.FailedSessionCount, d.ResultType, d.ReceivingIP)
		} else {
			fmt.Printf("%d× %s: %s\n", d.FailedSessionCount, d.ResultType, d.FailureReasonCode)
		}
	}
	// Output:
	// folded: 3
	// failed sessions: 5
	// 3× starttls-not-supported: too many distinct failure details; endpoints omitted
	// 1× starttls-not-supported at 198.51.100.0
	// 1× starttls-not-supported at 198.51.100.1
}

// Several MTAs add up their counts in one store; any Collector on that store
// makes the reports. (A database shared by many hosts implements
// ResultStore the same way; see its documentation.)
func ExampleMemoryStore() {
	ctx := context.Background()
	now := time.Date(2024, 9, 3, 14, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	shared := new(tlsrpt.MemoryStore)
	policy := tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"}
	for mta := 1; mta <= 3; mta++ {
		c := &tlsrpt.Collector{Store: shared, Now: clock}
		pc := c.Counter(policy)
		for range mta {
			pc.Success()
		}
		if err := c.Flush(ctx); err != nil {
			log.Fatal(err)
		}
	}
	now = now.Add(24 * time.Hour)
	reporter := &tlsrpt.Collector{OrganizationName: "Sender Mail", ContactInfo: "tlsrpt@sender.example", Store: shared, Now: clock}
	reports, err := reporter.Reports(ctx, now.Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("successful sessions:", reports[0].Policies[0].Summary.TotalSuccessfulSessionCount)
	days, _ := shared.Days(ctx)
	fmt.Println("days stored:", days)
	// Once the reports are delivered:
	shared.Delete(ctx, days[0])
	days, _ = shared.Days(ctx)
	fmt.Println("days stored:", days)
	// Output:
	// successful sessions: 6
	// days stored: [2024-09-03 00:00:00 +0000 UTC]
	// days stored: []
}

// A FileStore keeps what was flushed across a restart.
func ExampleFileStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tlsrpt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	now := time.Date(2024, 9, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	policy := tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"}

	before := &tlsrpt.Collector{Store: &tlsrpt.FileStore{Dir: dir}, Now: clock}
	before.Counter(policy).Success()
	if err := before.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	// The process restarts in the afternoon.
	now = now.Add(6 * time.Hour)
	after := &tlsrpt.Collector{
		OrganizationName: "Sender Mail",
		ContactInfo:      "tlsrpt@sender.example",
		Store:            &tlsrpt.FileStore{Dir: dir},
		Now:              clock,
	}
	after.Counter(policy).Success()

	now = now.Add(24 * time.Hour)
	reports, err := after.Reports(ctx, now.Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("successful sessions:", reports[0].Policies[0].Summary.TotalSuccessfulSessionCount)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// successful sessions: 2
	// 2024-09-03.jsonl
}

// A session that no report could carry is refused when it is recorded, not
// when the report is sent: here a failure without the sending MTA's
// address. A domain whose policy could not be fetched is counted under an
// sts policy without policy-string, which takes only fetch failures.
func ExamplePolicyCounter_Failure() {
	now := time.Date(2024, 9, 3, 14, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{
		OrganizationName: "Sender Mail",
		ContactInfo:      "mailto:tlsrpt@sender.example",
		Now:              func() time.Time { return now },
		Logger:           slog.New(slog.DiscardHandler), // refusals are logged at WARN
	}
	unfetched := c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: "example.com"})
	err := unfetched.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultSTSPolicyFetchError, ReceivingMXHostname: "mx1.example.com"})
	fmt.Println(errors.Is(err, tlsrpt.ErrNotRecorded), err)
	err = unfetched.Failure(tlsrpt.FailureDetail{
		ResultType:          tlsrpt.ResultSTSPolicyFetchError,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx1.example.com",
		ReceivingIP:         netip.MustParseAddr("198.51.100.25"),
	})
	fmt.Println(err)
	fmt.Println("a success:", unfetched.Success() != nil, "dropped:", c.Dropped())

	now = now.Add(24 * time.Hour)
	reports, err := c.Reports(context.Background(), now.Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", reports[0].Validate() == nil, reports[0].Policies[0].Summary)
	// Output:
	// true tlsrpt: session not recorded: tlsrpt: invalid report: policies[0].failure-details[0].sending-mta-ip: missing
	// <nil>
	// a success: true dropped: 2
	// valid: true {0 1}
}
