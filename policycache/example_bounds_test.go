package policycache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/smtpsec/smtpsec/policycache"
)

// An MTA facing the whole Internet bounds what the cache holds in memory
// and how many discoveries run at once. A policy that leaves memory is
// read back from the Store (here the default MemoryStore; a DirStore keeps
// it on disk instead) by the next Lookup.
func ExampleConfig_bounds() {
	internet := startInternet()
	defer internet.Stop()

	cache, err := policycache.New(policycache.Config{
		Resolver:       &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}},
		HTTPClient:     internet.Host.Client(),
		Logger:         discardLogger(),
		MaxMemory:      16 << 20, // bytes of policies and answers in memory
		MaxDiscoveries: 32,       // TXT lookups and fetches at once
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	res, err := cache.Lookup(context.Background(), "example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Policy.Mode, res.ID)
	// Output: enforce 20260501
}
