package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// switchResolver passes lookups to next, or to a dead server once fail
// is called, and can hold every lookup until block is closed.
type switchResolver struct {
	next  policycache.TTLResolver
	block chan struct{} // nil: no blocking

	mu      sync.Mutex
	dead    policycache.TTLResolver
	started chan struct{} // closed at the first lookup
}

// fail sends every later lookup to the DNS server at addr.
func (r *switchResolver) fail(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = &policycache.DNSResolver{Servers: []string{addr}, Attempts: 1, Timeout: 5 * time.Second}
}

func (r *switchResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, _, err := r.LookupTXTTTL(ctx, name)
	return txt, err
}

func (r *switchResolver) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	r.mu.Lock()
	if r.started == nil {
		r.started = make(chan struct{})
	}
	select {
	case <-r.started:
	default:
		close(r.started)
	}
	r.mu.Unlock()
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	r.mu.Lock()
	res := r.next
	if r.dead != nil {
		res = r.dead
	}
	r.mu.Unlock()
	return res.LookupTXTTTL(ctx, name)
}

// waitStarted waits for the first lookup.
func (r *switchResolver) waitStarted(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	if r.started == nil {
		r.started = make(chan struct{})
	}
	ch := r.started
	r.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no lookup started")
	}
}
