package mtasts_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// A policy host that gets its certificates from an ACME CA asks its
// Handler which names it serves before it asks for a certificate: with
// golang.org/x/crypto/acme/autocert,
//
//	m := &autocert.Manager{Prompt: autocert.AcceptTOS, HostPolicy: h.ServesHost, Cache: autocert.DirCache(dir)}
//	srv := &http.Server{Handler: h, TLSConfig: m.TLSConfig()}
//
// Here the host policy is asked directly, with names as TLS clients send
// them.
func ExampleHandler_ServesHost() {
	policies := map[string]*mtasts.Policy{
		"example.com": exampleMust(mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, "mx1.example.com")),
	}
	h := &mtasts.Handler{
		Policy: func(_ context.Context, domain string) (*mtasts.Policy, error) {
			return policies[domain], nil
		},
	}
	for _, host := range []string{"mta-sts.example.com", "MTA-STS.example.com.", "mta-sts.example.org", "www.example.com"} {
		fmt.Printf("%-21s %v\n", host, h.ServesHost(context.Background(), host))
	}
	// Output:
	// mta-sts.example.com   <nil>
	// MTA-STS.example.com.  <nil>
	// mta-sts.example.org   mtasts: unknown policy domain: example.org
	// www.example.com       mtasts: unknown policy domain: "www.example.com" is not mta-sts.<domain>
}
