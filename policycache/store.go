package policycache

import (
	"context"
	"errors"
	"sync"
)

// ErrCacheMiss is returned by a Store's Get when it holds nothing under the
// key.
var ErrCacheMiss = errors.New("policycache: cache miss")

// Store keeps cached policies outside the process, so that a restarted MTA
// still applies the policies it learnt before (RFC 8461 §3.3: a cached,
// unexpired policy must be applied when no live one can be fetched). The
// values are opaque bytes, checksummed by the Cache, so a Store needs no
// knowledge of MTA-STS; keys are policy domains in lower-case A-labels.
//
// A Store shared by several MTAs (a database, a key-value service) lets a
// fleet fetch each policy once. Implementations must be safe for
// concurrent use. The interface is that of
// golang.org/x/crypto/acme/autocert.Cache.
type Store interface {
	// Get returns the data stored under key, or ErrCacheMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores data under key, replacing what was there. The Store
	// must not keep data after Put returns; it belongs to the caller.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MemoryStore is a Store in process memory: nothing survives a restart.
// The zero value is an empty store ready for use. It is safe for concurrent
// use and must not be copied after first use.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// Get returns a copy of the data stored under key, or ErrCacheMiss.
func (s *MemoryStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	data, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrCacheMiss
	}
	return append([]byte(nil), data...), nil
}

// Put stores a copy of data under key.
func (s *MemoryStore) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data = append([]byte(nil), data...)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[key] = data
	s.mu.Unlock()
	return nil
}

// Delete removes key.
func (s *MemoryStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
	return nil
}
