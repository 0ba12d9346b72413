package mtasts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// mxZone adds MX records to the example zone. In production the resolver
// is nil (net.DefaultResolver) or a *net.Resolver of your own.
type mxZone struct {
	zone
	mx map[string][]*net.MX
}

func (z mxZone) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if mx, ok := z.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// Check finds the drift between a policy and the MX records: an MX host
// added without updating the policy, and a pattern left over.
func ExampleCheck() {
	policy := exampleMust(mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, "mx1.example.com", "*.backup.example.com"))
	client, stop := policyHost(&mtasts.Handler{
		Policy: func(context.Context, string) (*mtasts.Policy, error) { return policy, nil },
	}, "mta-sts.example.com")
	defer stop()
	dns := mxZone{
		zone: zone{"_mta-sts.example.com.": {"v=STSv1; id=" + mtasts.PolicyID(policy)}},
		mx: map[string][]*net.MX{"example.com.": {
			{Host: "mx1.example.com.", Pref: 10},
			{Host: "mx2.example.com.", Pref: 20},
		}},
	}

	res, err := mtasts.Check(context.Background(), "example.com", mtasts.CheckOptions{
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
	fmt.Println("OK:", res.OK())
	// Output:
	// error mx-not-covered mx2.example.com
	// warning pattern-unused *.backup.example.com
	// warning tlsrpt-missing _smtp._tls.example.com
	// fix: add "mx: mx2.example.com" to the policy, serve it, then publish a new TXT id (§8.1); or remove the MX record if the host is retired
	// OK: false
}

// Findings print for people with String and for programs as JSON, with
// the severity as a word.
func ExampleFinding() {
	f := mtasts.Finding{
		Severity: mtasts.SeverityWarning,
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
