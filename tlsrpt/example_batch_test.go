package tlsrpt_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// A detail past a policy's limit of distinct details keeps its result type
// and sending address only.
func ExampleFailureDetail_Folded() {
	d := tlsrpt.FailureDetail{
		ResultType:          tlsrpt.ResultCertificateExpired,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx1.example.com",
		FailedSessionCount:  3,
	}
	f := d.Folded()
	fmt.Println(f.ResultType, f.SendingMTAIP, f.ReceivingMXHostname == "", f.FailureReasonCode)
	// Output: certificate-expired 192.0.2.1 true too many distinct failure details; endpoints omitted
}

// An MTA runs FlushEvery for its lifetime; when its context ends, a last
// Flush stores what was recorded.
func ExampleCollector_FlushEvery() {
	store := new(tlsrpt.MemoryStore)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{Store: store, Now: func() time.Time { return now }}
	ctx, shutdown := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.FlushEvery(ctx, time.Minute) }()

	c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: "example.com"}).Success()
	shutdown()
	fmt.Println("last flush:", <-done)
	results, _ := store.Results(context.Background(), now)
	fmt.Println(results[0].Summary.TotalSuccessfulSessionCount)
	// Output:
	// last flush: <nil>
	// 1
}
