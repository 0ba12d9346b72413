package main

import (
	"context"
	"net/http"
	"sync"
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

// countingStore is a policycache.Store that knows which keys it holds, as
// far as this process has seen: those it wrote or read successfully. It
// gives the cached_policies gauge without listing the Store.
type countingStore struct {
	next policycache.Store
	mu   sync.Mutex
	keys map[string]struct{}
}

func newCountingStore(next policycache.Store) *countingStore {
	return &countingStore{next: next, keys: map[string]struct{}{}}
}

// Get reads key.
func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := s.next.Get(ctx, key)
	if err == nil {
		s.mu.Lock()
		s.keys[key] = struct{}{}
		s.mu.Unlock()
	}
	return data, err
}

// Put writes key.
func (s *countingStore) Put(ctx context.Context, key string, data []byte) error {
	err := s.next.Put(ctx, key, data)
	if err == nil {
		s.mu.Lock()
		s.keys[key] = struct{}{}
		s.mu.Unlock()
	}
	return err
}

// Delete removes key.
func (s *countingStore) Delete(ctx context.Context, key string) error {
	err := s.next.Delete(ctx, key)
	if err == nil {
		s.mu.Lock()
		delete(s.keys, key)
		s.mu.Unlock()
	}
	return err
}

// len is how many keys the store holds as far as this process knows.
func (s *countingStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
