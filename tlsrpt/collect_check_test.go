package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// Every day a Collector recorded gives reports that Validate accepts: the
// sessions a report could not carry are refused when they are recorded.
func TestRecordTimeValidation(t *testing.T) {
	clock := newTestClock(day1)
	log, logged := quietLogger()
	c := &Collector{OrganizationName: "o", ContactInfo: "mailto:tlsrpt@sender.example", Now: clock.Now, Logger: log}
	ip := netip.MustParseAddr("192.0.2.1")
	fetchFail := FailureDetail{ResultType: ResultSTSPolicyFetchError, SendingMTAIP: ip, ReceivingMXHostname: "mx1.example.com"}

	// A policy that could not be fetched: type sts without policy-string.
	unfetched := c.Counter(AppliedPolicy{Type: PolicySTS, Domain: "example.com"})
	ok := []error{
		unfetched.Failure(fetchFail),
		unfetched.Failure(FailureDetail{ResultType: ResultSTSWebPKIInvalid, SendingMTAIP: ip}),
		c.Counter(AppliedPolicy{Type: PolicyNotFound, Domain: "example.org"}).Success(),
		c.Counter(stsPolicy("example.net")).Failure(expiredAt("198.51.100.1")),
	}
	for i, err := range ok {
		if err != nil {
			t.Errorf("recording %d: %v", i, err)
		}
	}
	refused := map[string]error{
		"success without policy-string":     unfetched.Success(),
		"TLS failure without policy-string": unfetched.Failure(expiredAt("198.51.100.2")),
		"no sending-mta-ip":                 c.Counter(stsPolicy("example.net")).Failure(FailureDetail{ResultType: ResultCertificateExpired}),
		"unregistered result type":          c.Counter(stsPolicy("example.net")).Failure(FailureDetail{ResultType: "x-custom", SendingMTAIP: ip}),
		"additional-information not a URI":  c.Counter(stsPolicy("example.net")).Failure(FailureDetail{ResultType: ResultValidationFailure, SendingMTAIP: ip, AdditionalInformation: "not a uri"}),
		"tlsa without policy-string":        c.Counter(AppliedPolicy{Type: PolicyTLSA, Domain: "example.net"}).Success(),
		"unknown policy type":               c.Counter(AppliedPolicy{Type: "x", Domain: "example.net"}).Success(),
		"policy-domain not a host name":     c.Counter(AppliedPolicy{Type: PolicyNotFound, Domain: "exa mple.net"}).Success(),
	}
	for what, err := range refused {
		var ve *ValidationError
		if !errors.Is(err, ErrNotRecorded) || (what != "success without policy-string" && what != "TLS failure without policy-string" && !errors.As(err, &ve)) {
			t.Errorf("%s: %v, want ErrNotRecorded", what, err)
		}
	}
	if got := c.Dropped(); got != int64(len(refused)) {
		t.Errorf("Dropped() = %d, want %d", got, len(refused))
	}
	if n := bytes.Count([]byte(logged.String()), []byte(`msg="tlsrpt: session not recorded`)); n == 0 || n > len(refused) {
		t.Errorf("logged %d refusals:\n%s", n, logged)
	}

	clock.Set(day2)
	reports, err := c.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	for _, r := range reports {
		if err := r.Validate(); err != nil {
			t.Errorf("report for %s: %v", r.Policies[0].Policy.Domain, err)
		}
	}
}

// A report read leniently keeps its quirks visible in Validate, but the
// Sender writes it strictly and sends it.
func TestSendQuirkyReport(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "rfc8460-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if r.Validate() == nil {
		t.Fatal("the string mx-host is not noted")
	}
	ca := newDeliveryCA(t)
	got := make(chan *Report, 1)
	srv, client := ca.httpsServer(t, &Handler{Strict: true, Report: func(ctx context.Context, r *Report) error {
		got <- r
		return nil
	}})
	s := &Sender{HTTPClient: client, Attempts: 1}
	if err := s.Send(context.Background(), r, mustRecord(t, "v=TLSRPTv1; rua="+srv.URL+"/tlsrpt")); err != nil {
		t.Fatal(err)
	}
	if back := <-got; back.Validate() != nil || len(back.Policies[0].Policy.MXHost) != 1 {
		t.Errorf("sent report: %v %+v", back.Validate(), back.Policies[0].Policy)
	}
	r.Policies[0].FailureDetails[0].SendingMTAIP = netip.Addr{}
	if err := s.Send(context.Background(), r, mustRecord(t, "v=TLSRPTv1; rua="+srv.URL+"/tlsrpt")); !errors.Is(err, ErrInvalidReport) {
		t.Errorf("a report missing a sending-mta-ip was sent: %v", err)
	}
}

var _ http.Handler = (*Handler)(nil)
