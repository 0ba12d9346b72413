package policycache_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/smtpsec/smtpsec/policycache"
)

// LookupMX serves the MX lookups of an MTA with the same resolver as its
// Cache; the hosts come lowest preference first.
func ExampleDNSResolver_LookupMX() {
	internet := startInternet()
	defer internet.Stop()
	internet.DNS.Set("example.com", zoneAnswer{TTL: 300, MX: []net.MX{
		{Host: "mx2.example.com", Pref: 20},
		{Host: "mx1.example.com", Pref: 10},
	}})
	r := &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}}

	mxs, err := r.LookupMX(context.Background(), "example.com")
	for _, mx := range mxs {
		fmt.Println(mx.Pref, mx.Host)
	}
	fmt.Println(err)

	_, err = r.LookupMX(context.Background(), "example.org")
	var dnsErr *net.DNSError
	fmt.Println(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	// Output:
	// 10 mx1.example.com.
	// 20 mx2.example.com.
	// <nil>
	// true
}
