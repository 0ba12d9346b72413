package policycache_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// New with a zero Config gives a cache for a real MTA: DNS through the
// system's resolvers, policies kept in memory, background refresh. Close
// stops the refresh and makes further lookups fail.
func ExampleNew() {
	cache, err := policycache.New(policycache.Config{})
	if err != nil {
		log.Fatal(err)
	}
	cache.Close()
	_, err = cache.Lookup(context.Background(), "example.com")
	fmt.Println(errors.Is(err, policycache.ErrClosed))
	// Output: true
}

// Enforced and Testing tell what to do with an MX host that fails
// validation (RFC 8461 §5): skip it, or deliver and report.
func ExampleResult_Enforced() {
	for _, mode := range []mtasts.Mode{mtasts.ModeEnforce, mtasts.ModeTesting, mtasts.ModeNone} {
		p, err := mtasts.NewPolicy(mode, 86400e9, "mx1.example.com")
		if err != nil {
			log.Fatal(err)
		}
		res := policycache.Result{Domain: "example.com", Policy: p}
		fmt.Println(mode, "enforced:", res.Enforced(), "testing:", res.Testing(), "allows mx.other.example:", res.AllowsMX("mx.other.example"))
	}
	// Output:
	// enforce enforced: true testing: false allows mx.other.example: false
	// testing enforced: false testing: true allows mx.other.example: false
	// none enforced: false testing: false allows mx.other.example: true
}

// DNSResolver also satisfies mtasts.Resolver, the interface of
// *net.Resolver, so the leaves can use it.
func ExampleDNSResolver_LookupTXT() {
	internet := startInternet()
	defer internet.Stop()
	r := &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}}

	rec, err := mtasts.LookupRecord(context.Background(), r, "example.com")
	fmt.Println(rec, err)
	// Output: v=STSv1; id=20260501 <nil>
}
