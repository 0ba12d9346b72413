package policycache_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// With nothing cached, a policy that cannot be fetched means delivering as
// if the domain had no policy (fail-open), and reporting the failure.
func ExampleCache_Lookup_fetchFailure() {
	internet := startInternet()
	defer internet.Stop()
	internet.Publish("example.net", "1", "version: STSv1\nmode: enforce\n") // invalid: no mx, no max_age

	cache, err := policycache.New(policycache.Config{
		Resolver:   &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}},
		HTTPClient: internet.Host.Client(),
		Logger:     discardLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	res, _ := cache.Lookup(context.Background(), "example.net")
	fmt.Println("policy:", res.Policy, "allows any MX:", res.AllowsMX("mx.example.net"))
	fmt.Println("report:", res.AppliedPolicy.Type, res.AppliedPolicy.Domain, res.Failure)
	fmt.Println("invalid policy:", errors.Is(res.Err, mtasts.ErrInvalidPolicy))
	// Output:
	// policy: <nil> allows any MX: true
	// report: sts example.net sts-policy-invalid
	// invalid policy: true
}

// A DirStore keeps policies across restarts: a new process applies the
// policy it fetched before, even when the policy host is unreachable.
func ExampleDirStore() {
	internet := startInternet()
	defer internet.Stop()
	dir, err := os.MkdirTemp("", "policycache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := policycache.Config{
		Resolver:   &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}},
		HTTPClient: internet.Host.Client(),
		Store:      policycache.DirStore(dir),
		Logger:     discardLogger(),
	}
	before, err := policycache.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	before.Lookup(context.Background(), "example.com")
	before.Close()

	internet.Host.Set("example.com", site{Unreachable: true})
	after, err := policycache.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer after.Close()
	res, _ := after.Lookup(context.Background(), "example.com")
	fmt.Println(res.Policy.Mode, res.ID, "from cache:", res.FromCache)
	// Output: enforce 20260501 from cache: true
}

// A MemoryStore is the default Store; a Store is a small map of bytes.
func ExampleMemoryStore() {
	var s policycache.MemoryStore
	ctx := context.Background()
	s.Put(ctx, "example.com", []byte("an entry"))
	data, _ := s.Get(ctx, "example.com")
	fmt.Printf("%s\n", data)
	_, err := s.Get(ctx, "example.org")
	fmt.Println(err == policycache.ErrCacheMiss)
	// Output:
	// an entry
	// true
}

// LookupTXTTTL returns the records and how long they may be kept, and tells
// an absent record from a failure with the fields of *net.DNSError.
func ExampleDNSResolver_LookupTXTTTL() {
	internet := startInternet()
	defer internet.Stop()
	r := &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}}

	txt, ttl, err := r.LookupTXTTTL(context.Background(), "_mta-sts.example.com")
	fmt.Println(txt, ttl, err)

	_, _, err = r.LookupTXTTTL(context.Background(), "_mta-sts.example.org")
	var dnsErr *net.DNSError
	fmt.Println(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	// Output:
	// [v=STSv1; id=20260501;] 5m0s <nil>
	// true
}

// AllowsMX applies the MX host patterns of RFC 8461 §4.1.
func ExampleResult_AllowsMX() {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: *.mail.example.net\nmax_age: 604800\n"))
	if err != nil {
		log.Fatal(err)
	}
	res := policycache.Result{Domain: "example.net", Policy: p}
	for _, mx := range []string{"MX7.Mail.Example.NET.", "mail.example.net", "a.b.mail.example.net"} {
		fmt.Println(mx, res.AllowsMX(mx))
	}
	// Output:
	// MX7.Mail.Example.NET. true
	// mail.example.net false
	// a.b.mail.example.net false
}
