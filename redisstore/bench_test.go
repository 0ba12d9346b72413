package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// BenchmarkFlush10000Policies is a Flush of 10 000 policy counters, one
// session each, into the real redis-server: one Lua script, one round
// trip. Reported as ms/flush; the recording is not timed.
func BenchmarkFlush10000Policies(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b) // a server of its own, for its command statistics
	rc := client(b, srv.Addr)
	pfx := prefix(b)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &tlsrpt.Collector{Store: redisstore.NewResultStore(rc, pfx, 0, nil), Now: func() time.Time { return now }}
	counters := make([]*tlsrpt.PolicyCounter, 10000)
	for i := range counters {
		counters[i] = c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: fmt.Sprintf("d%05d.example", i),
			PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 604800"}, MXHost: []string{"mx.example.net"}})
	}
	b.ReportAllocs()
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		for _, pc := range counters {
			pc.Success()
		}
		b.StartTimer()
		start := time.Now()
		if err := c.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/flush")
	b.ReportMetric(scriptMillis(b, rc), "server-ms/flush")
}

// scriptMillis is the mean time redis-server spent in one EVALSHA, from
// INFO commandstats.
func scriptMillis(b *testing.B, rc *redis.Client) float64 {
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
			for _, f := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
					us, _ := strconv.ParseFloat(v, 64)
					return us / 1000
				}
			}
		}
	}
	return 0
}

// BenchmarkLookupHit is a Lookup hit with a Cache on the PolicyStore and,
// for comparison, on a MemoryStore: a hit reads process memory only, so
// both cost the same and allocate nothing.
func BenchmarkLookupHit(b *testing.B) {
	for _, tt := range []struct {
		name  string
		store func() policycache.Store
	}{
		{"MemoryStore", func() policycache.Store { return new(policycache.MemoryStore) }},
		{"RedisStore", func() policycache.Store { return redisstore.NewPolicyStore(client(b, shared.Addr), prefix(b)) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			w := newFleetWorld(b, time.Now())
			c := w.cache(b, tt.store(), nil, discard())
			ctx := context.Background()
			if res, err := c.Lookup(ctx, world.Domain); err != nil || res.Policy == nil {
				b.Fatalf("warm-up: %+v, %v", res, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Lookup(ctx, world.Domain)
				if err != nil || res.Policy == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLockFetch takes and releases an uncontended fetch lock: the
// cost a miss that fetches adds (two round trips to the local Redis).
func BenchmarkLockFetch(b *testing.B) {
	ctx := context.Background()
	s := redisstore.NewPolicyStore(client(b, shared.Addr), prefix(b))
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := s.LockFetch(ctx, "example.com")
		if err != nil {
			b.Fatal(err)
		}
		unlock()
	}
}
