package policycache_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/smtpsec/smtpsec/policycache"
)

// The policy and MX host of SPEC.md's benchmark inputs.
const (
	benchPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n"
	benchMX     = "MX7.Mail.Example.NET"
)

// benchCache returns a cache on the real clock holding the benchmark
// policy of example.com, fresh (TXT TTL one hour).
func benchCache(b *testing.B) *policycache.Cache {
	w := newWorld(b)
	w.DNS.SetTXT("_mta-sts.example.com", 3600, "v=STSv1; id=bench1;")
	w.Host.Serve("example.com", benchPolicy)
	cfg := w.Config()
	cfg.Now = nil
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c := w.Cache(b, cfg)
	if res, err := c.Lookup(ctx, "example.com"); err != nil || res.Policy == nil {
		b.Fatalf("warm-up: %v", err)
	}
	return c
}

// BenchmarkLookupHit is the cost of Lookup for a delivery to a domain
// whose policy and TXT record are fresh in memory: the common case of an
// MTA. Target: under 200 ns/op, 0 allocs/op.
func BenchmarkLookupHit(b *testing.B) {
	c := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Lookup(ctx, "example.com")
		if err != nil || res.Policy == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupHitParallel is BenchmarkLookupHit from every core at once:
// the hit path takes no lock and writes no shared memory, so it scales.
func BenchmarkLookupHitParallel(b *testing.B) {
	c := benchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Lookup(ctx, "example.com")
			if err != nil || res.Policy == nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAllowsMX checks an MX host against the policy of a Result: a
// wildcard match in mixed case. Target: under 60 ns/op, 0 allocs/op.
func BenchmarkAllowsMX(b *testing.B) {
	res, err := benchCache(b).Lookup(ctx, "example.com")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !res.AllowsMX(benchMX) {
			b.Fatal("no match")
		}
	}
}
