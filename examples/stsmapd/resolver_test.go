package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// switchResolver passes lookups to next, or to a dead server once fail
// is called, and can hold every lookup until block is closed. It reports
// each lookup that ended.
type switchResolver struct {
	next  policycache.TTLResolver
	block chan struct{} // nil: no blocking

	mu    sync.Mutex
	dead  policycache.TTLResolver
	ended map[string]chan struct{}
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
	defer r.markEnded(name)
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

// markEnded closes the channel of name, the first time.
func (r *switchResolver) markEnded(name string) {
	ch := r.endedChan(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// endedChan is closed when the (first) lookup of name ends.
func (r *switchResolver) endedChan(name string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended == nil {
		r.ended = map[string]chan struct{}{}
	}
	ch := r.ended[name]
	if ch == nil {
		ch = make(chan struct{})
		r.ended[name] = ch
	}
	return ch
}

// waitDone waits until the first lookup of name has ended.
func (r *switchResolver) waitDone(t testing.TB, name string) {
	t.Helper()
	select {
	case <-r.endedChan(name):
	case <-time.After(30 * time.Second):
		t.Fatalf("lookup of %s did not end", name)
	}
}
