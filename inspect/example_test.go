package inspect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/mtasts"
)

// zone is the DNS of the examples. In production the resolver is nil
// (net.DefaultResolver) or a *net.Resolver of your own.
type zone struct {
	txt map[string][]string
	mx  map[string][]*net.MX
}

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txts, ok := z.txt[name]; ok {
		return txts, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (z zone) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if mx, ok := z.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// policyHost serves h over HTTPS on loopback with httptest's certificate,
// which is valid for *.example.com, and returns a client that reaches it
// under any host name and trusts that certificate. In production the
// client is nil, and DNS and the system roots do the rest.
func policyHost(h http.Handler) (*http.Client, func()) {
	srv := httptest.NewTLSServer(h)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return &http.Client{Transport: tr}, srv.Close
}

// Domain finds the drift between a policy and the MX records: an MX host
// added without updating the policy, and a pattern left over.
func ExampleDomain() {
	policy, err := mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, "mx1.example.com", "*.backup.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, stop := policyHost(&mtasts.Handler{
		Policy: func(context.Context, string) (*mtasts.Policy, error) { return policy, nil },
	})
	defer stop()
	dns := zone{
		txt: map[string][]string{"_mta-sts.example.com.": {"v=STSv1; id=" + mtasts.PolicyID(policy)}},
		mx: map[string][]*net.MX{"example.com.": {
			{Host: "mx1.example.com.", Pref: 10},
			{Host: "mx2.example.com.", Pref: 20},
		}},
	}

	res, err := inspect.Domain(context.Background(), "example.com", inspect.Options{
		Resolver:     dns,
		HTTPClient:   client,
		SkipSTARTTLS: true, // no MX hosts to connect to in this example
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range res.Findings {
		fmt.Println(f.Severity, f.Code, f.Subject)
	}
	fmt.Println("fix:", res.Findings[0].Fix)
	fmt.Println("fix:", res.Findings[2].Fix)
	fmt.Println("OK:", res.OK())
	// Output:
	// error mx-not-covered mx2.example.com
	// warning pattern-unused *.backup.example.com
	// warning tlsrpt-missing _smtp._tls.example.com
	// fix: add "mx: mx2.example.com" to the policy, serve it, then publish a new TXT id (§8.1); or remove the MX record if the host is retired
	// fix: publish _smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com" (with your own address) to receive reports
	// OK: false
}

// A domain without an MTA-STS record gets the record to publish, with the
// id derived from the policy it serves.
func ExampleDomain_missingRecord() {
	policy, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, "mx.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, stop := policyHost(&mtasts.Handler{
		Policy: func(context.Context, string) (*mtasts.Policy, error) { return policy, nil },
	})
	defer stop()
	dns := zone{
		txt: map[string][]string{"_smtp._tls.example.com.": {"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}},
		mx:  map[string][]*net.MX{"example.com.": {{Host: "mx.example.com.", Pref: 10}}},
	}
	res, err := inspect.Domain(context.Background(), "example.com", inspect.Options{
		Resolver: dns, HTTPClient: client, SkipSTARTTLS: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	f := res.Findings[0]
	fmt.Println(len(res.Findings), f.Severity, f.Code)
	fmt.Println(f.Fix == `publish _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=`+mtasts.PolicyID(policy)+`" (the id is PolicyID of the policy served)`)
	fmt.Println("TLS-RPT reports go to", res.TLSRPTRecord.Destinations()[0])
	// Output:
	// 1 error txt-missing
	// true
	// TLS-RPT reports go to mailto:tlsrpt@example.com
}

// Findings print for people with String and for programs as JSON, with
// the severity as a word.
func ExampleFinding() {
	f := inspect.Finding{
		Severity: inspect.SeverityWarning,
		Code:     "cert-expiring",
		Subject:  "mx1.example.com",
		Message:  "the certificate of mx1.example.com expires in 5 days",
		Fix:      "renew it",
	}
	fmt.Println(f)
	b, _ := json.Marshal(f)
	fmt.Println(string(b))
	// Output:
	// warning cert-expiring: the certificate of mx1.example.com expires in 5 days (fix: renew it)
	// {"severity":"warning","code":"cert-expiring","subject":"mx1.example.com","message":"the certificate of mx1.example.com expires in 5 days","fix":"renew it"}
}
