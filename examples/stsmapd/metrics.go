package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/smtpsec/smtpsec/mtasts"
)

// metrics are the counters the /metrics endpoint shows, in the Prometheus
// text exposition format. All are safe for concurrent use.
type metrics struct {
	mu    sync.Mutex
	zones map[string]*zoneCounters // by zone name; kept across reloads

	discoveries   atomic.Int64 // TXT lookups by the cache
	fetches       atomic.Int64 // policy fetches (HTTPS requests)
	fetchFailures [mtasts.FetchPolicyInvalid + 1]atomic.Int64
	badRequests   [numBadRequests]atomic.Int64
	connections   atomic.Int64 // open now
	accepted      atomic.Int64
	refused       atomic.Int64
	storeErrors   atomic.Int64 // failed reads and writes of the Redis store
	cacheSize     func() int
}

// zoneCounters counts the decisions of one zone.
type zoneCounters [numOutcomes]atomic.Int64

// badRequest is a kind of request answered PERM.
type badRequest uint8

const (
	badFraming badRequest = iota
	badSyntax
	badZone
	numBadRequests
)

var badRequestNames = [numBadRequests]string{badFraming: "framing", badSyntax: "syntax", badZone: "unknown_zone"}

func newMetrics() *metrics {
	return &metrics{zones: map[string]*zoneCounters{}}
}

// zone returns the counters of the zone name, made on first use.
func (m *metrics) zone(name string) *zoneCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.zones[name]
	if c == nil {
		c = new(zoneCounters)
		m.zones[name] = c
	}
	return c
}

// fetchFailure counts a failed policy fetch.
func (m *metrics) fetchFailure(r mtasts.FetchFailure) {
	if r >= 1 && int(r) < len(m.fetchFailures) {
		m.fetchFailures[r].Add(1)
	}
}

// ServeHTTP writes the metrics.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()

	fmt.Fprintln(b, "# HELP stsmapd_lookups_total Socketmap requests answered, by zone and decision.")
	fmt.Fprintln(b, "# TYPE stsmapd_lookups_total counter")
	m.mu.Lock()
	names := make([]string, 0, len(m.zones))
	for name := range m.zones {
		names = append(names, name)
	}
	slices.Sort(names)
	counters := make([]*zoneCounters, len(names))
	for i, name := range names {
		counters[i] = m.zones[name]
	}
	m.mu.Unlock()
	for i, name := range names {
		for o := range numOutcomes {
			fmt.Fprintf(b, "stsmapd_lookups_total{zone=%s,outcome=%q} %d\n",
				strconv.Quote(name), outcomeNames[o], counters[i][o].Load())
		}
	}
	fmt.Fprintln(b, "# HELP stsmapd_bad_requests_total Requests answered PERM, by kind.")
	fmt.Fprintln(b, "# TYPE stsmapd_bad_requests_total counter")
	for k := range numBadRequests {
		fmt.Fprintf(b, "stsmapd_bad_requests_total{kind=%q} %d\n", badRequestNames[k], m.badRequests[k].Load())
	}
	single(b, "stsmapd_discoveries_total", "counter", "MTA-STS TXT lookups made by the policy cache.", m.discoveries.Load())
	single(b, "stsmapd_fetches_total", "counter", "MTA-STS policy fetches (HTTPS requests).", m.fetches.Load())
	fmt.Fprintln(b, "# HELP stsmapd_fetch_failures_total Failed policy fetches, by the RFC 8461 rule broken.")
	fmt.Fprintln(b, "# TYPE stsmapd_fetch_failures_total counter")
	for r := mtasts.FetchNetwork; r <= mtasts.FetchPolicyInvalid; r++ {
		fmt.Fprintf(b, "stsmapd_fetch_failures_total{reason=%q} %d\n", r.String(), m.fetchFailures[r].Load())
	}
	single(b, "stsmapd_cache_domains", "gauge", "Policy domains in the cache's memory: with a policy, or a recent answer without one.", int64(m.cacheSize()))
	single(b, "stsmapd_store_errors_total", "counter", "Failed reads and writes of the Redis policy store; lookups go on from memory and the network.", m.storeErrors.Load())
	single(b, "stsmapd_connections", "gauge", "Socketmap connections open now.", m.connections.Load())
	single(b, "stsmapd_connections_accepted_total", "counter", "Socketmap connections served.", m.accepted.Load())
	single(b, "stsmapd_connections_refused_total", "counter", "Connections over max_connections, answered TEMP or closed.", m.refused.Load())
}

// single writes a metric without labels.
func single(b *bufio.Writer, name, kind, help string, v int64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
}

// fetchFailureCounter is a slog.Handler in front of the policy cache's
// logger: policycache logs every failed fetch at level WARN or ERROR with
// the *mtasts.FetchError as attribute "err", and the handler counts them
// by reason before passing records on to next.
type fetchFailureCounter struct {
	next slog.Handler
	m    *metrics
}

// Enabled is true from level WARN on, so that failures are counted
// whatever the log level; Handle passes on only what next wants.
func (h fetchFailureCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

// Handle counts a fetch failure in r and passes r on.
func (h fetchFailureCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		r.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
				var fe *mtasts.FetchError
				if errors.As(err, &fe) {
					h.m.fetchFailure(fe.Reason)
				}
			}
			return true
		})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns the counter in front of next.WithAttrs.
func (h fetchFailureCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return fetchFailureCounter{h.next.WithAttrs(attrs), h.m}
}

// WithGroup returns the counter in front of next.WithGroup.
func (h fetchFailureCounter) WithGroup(name string) slog.Handler {
	return fetchFailureCounter{h.next.WithGroup(name), h.m}
}
