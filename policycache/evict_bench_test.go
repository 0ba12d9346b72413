package policycache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkEvictionPass is one eviction pass over 10 000 domains holding
// 9/8 of MaxMemory, brought down to 7/8 of it: what the discovery that
// crosses the bound pays, about once per eighth of the bound filled again.
func BenchmarkEvictionPass(b *testing.B) {
	const n = 10000
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c, err := New(Config{
		Resolver:       &DNSResolver{Servers: []string{"127.0.0.1:1"}},
		Now:            func() time.Time { return now },
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		DisableRefresh: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	domains := make([]string, n)
	entries := make([]*entry, n)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%05d.example", i)
		entries[i] = c.noPolicy(domains[i], nil, now.Add(time.Hour))
		entries[i].size = entries[i].footprint()
	}
	c.mem.max = int64(n) * entries[0].size * 8 / 9
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var total int64
		for i, d := range domains {
			if _, ok := c.domains.Load(d); ok {
				continue
			}
			st := new(domainState)
			st.cur.Store(entries[i])
			st.used.Store(int64(i))
			c.domains.Store(d, st)
			total += entries[i].size
		}
		c.mem.bytes.Add(total)
		b.StartTimer()
		c.evict(context.Background())
	}
}
