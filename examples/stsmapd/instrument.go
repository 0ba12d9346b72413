package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// countingResolver counts the TXT lookups the cache makes (its
// discoveries) and passes them on; it keeps the TTLs.
type countingResolver struct {
	next policycache.TTLResolver
	n    *atomic.Int64
}

// LookupTXT counts and looks up.
func (r countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.n.Add(1)
	return r.next.LookupTXT(ctx, name)
}

// LookupTXTTTL counts and looks up.
func (r countingResolver) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	r.n.Add(1)
	return r.next.LookupTXTTTL(ctx, name)
}

// countingTransport counts the policy fetches (HTTPS requests).
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

// RoundTrip counts and sends req.
func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(req)
}
