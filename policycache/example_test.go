package policycache_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"time"

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

// Recheck looks for a new policy at once, whatever the TXT record's TTL:
// the last step of RFC 8461 §5.1 before a message bounces.
func ExampleCache_Recheck() {
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
	res, _ := cache.Lookup(context.Background(), "example.com")
	fmt.Println("id:", res.ID, "allows mx2.example.com:", res.AllowsMX("mx2.example.com"))

	// example.com moves its mail; no MX of the cached policy takes the message.
	internet.Publish("example.com", "20260502", enforceNewMX)
	res, _ = cache.Lookup(context.Background(), "example.com")
	fmt.Println("within the TTL, id:", res.ID)
	res, _ = cache.Recheck(context.Background(), "example.com")
	fmt.Println("rechecked, id:", res.ID, "allows mx2.example.com:", res.AllowsMX("mx2.example.com"))
	// Output:
	// id: 20260501 allows mx2.example.com: false
	// within the TTL, id: 20260501
	// rechecked, id: 20260502 allows mx2.example.com: true
}

// TLSConfig follows the policy's mode: under enforce and testing the RFC
// 8461 §4.2 checks run in the handshake (failing it only under enforce);
// without a policy TLS is opportunistic.
func ExampleSession_TLSConfig() {
	for _, mode := range []mtasts.Mode{mtasts.ModeEnforce, mtasts.ModeTesting, mtasts.ModeNone} {
		p, err := mtasts.NewPolicy(mode, 24*time.Hour, "mx1.example.com")
		if err != nil {
			log.Fatal(err)
		}
		d := policycache.NewDelivery(policycache.Result{Domain: "example.com", Policy: p}, nil, mtasts.VerifyOptions{})
		s := d.Session("MX1.Example.COM.")
		cfg := s.TLSConfig()
		fmt.Println(mode, "try:", s.Try(), "SNI:", cfg.ServerName, "checks certificate:", cfg.VerifyConnection != nil)
	}
	// Output:
	// enforce try: true SNI: mx1.example.com checks certificate: true
	// testing try: true SNI: mx1.example.com checks certificate: true
	// none try: true SNI: mx1.example.com checks certificate: false
}
