package policycache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/smtpsec/smtpsec/policycache"
)

// Len is the size of the cache, for a metrics endpoint: here one domain
// with a policy and one without an MTA-STS record.
func ExampleCache_Len() {
	internet := startInternet()
	defer internet.Stop()
	cache, err := policycache.New(policycache.Config{
		Resolver:   &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}},
		HTTPClient: internet.Host.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	fmt.Println("before:", cache.Len())
	for _, d := range []string{"example.com", "no-mta-sts.example", "example.com"} {
		if _, err := cache.Lookup(context.Background(), d); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("after:", cache.Len())
	// Output:
	// before: 0
	// after: 2
}
