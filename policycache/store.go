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
	m  map[string]string
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
	return []byte(data), nil
}

// Put stores a copy of data under key.
func (s *MemoryStore) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.putText(key, string(data))
	return nil
}

func (s *MemoryStore) putText(key, text string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[key] = text
	s.mu.Unlock()
}

func (s *MemoryStore) getText(key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	text, ok := s.m[key]
	return text, ok
}

// A textStore keeps values as strings that it can share with the Cache,
// so that a policy in memory and its stored copy are one copy (see
// sharedPolicy). MemoryStore is one.
type textStore interface {
	putText(key, text string)
	getText(key string) (string, bool)
}

// put stores text under key, without copying it when the Store is a
// textStore.
func (c *Cache) put(ctx context.Context, key, text string) error {
	if ts, ok := c.store.(textStore); ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		ts.putText(key, text)
		return nil
	}
	return c.store.Put(ctx, key, []byte(text))
}

// get reads the value under key, also as a string when the Store is a
// textStore (text is empty otherwise).
func (c *Cache) get(ctx context.Context, key string) (data []byte, text string, err error) {
	data, err = c.store.Get(ctx, key)
	if ts, ok := c.store.(textStore); ok && err == nil {
		text, _ = ts.getText(key)
	}
	return data, text, err
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
