package redisresp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/policycache"
)

// maxPolicyEntry bounds one stored entry, as in the redisstore module's
// PolicyStore and policycache.DirStore.
const maxPolicyEntry = 1 << 20

// maxListed bounds the keys PolicyStore.Keys returns.
const maxListed = 100000

// getRangeEnd is the last offset Get reads, maxPolicyEntry: the byte
// past the limit tells a value that is too large.
const getRangeEnd = "1048576"

// PolicyStore is a policycache.Store on a Client with exactly the data
// layout of the redisstore module's PolicyStore: the bytes the Cache
// gives, under prefix + "policy:" + policy domain, expiring with their
// policy (SET PX). Both stores read and write each other's entries, so
// stsmapd and Go MTAs on redisstore share one fleet cache. It is a
// policycache.ExpiringStore, a policycache.StoreLister and a
// policycache.FetchLocker, and safe for concurrent use.
type PolicyStore struct {
	// FetchLease is how long a fetch lock lasts unless released; zero
	// means DefaultFetchLease. It must be at least the Caches'
	// policycache.Config.Timeout. Set it before first use.
	FetchLease time.Duration

	c      *Client
	prefix string
}

// NewPolicyStore returns a PolicyStore on c whose keys start with prefix
// ("" is allowed).
func NewPolicyStore(c *Client, prefix string) *PolicyStore {
	return &PolicyStore{c: c, prefix: prefix}
}

func (s *PolicyStore) key(key string) string { return s.prefix + "policy:" + key }

// Get returns the entry of key, or policycache.ErrCacheMiss. It reads at
// most 1 MiB with GETRANGE: a larger value is an error, an empty one (the
// Cache never writes it) a miss.
func (s *PolicyStore) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := s.c.Do(ctx, "GETRANGE", s.key(key), "0", getRangeEnd)
	if err != nil {
		return nil, fmt.Errorf("redisresp: reading a policy: %w", err)
	}
	if r.Kind != KindBulk {
		return nil, fmt.Errorf("redisresp: reading a policy: %w", &protocolError{what: "GETRANGE reply not a bulk string"})
	}
	if len(r.Bytes) == 0 {
		return nil, policycache.ErrCacheMiss
	}
	if len(r.Bytes) > maxPolicyEntry {
		return nil, fmt.Errorf("redisresp: the policy entry of key %s is larger than %d bytes", escape.Quote(s.key(key)), maxPolicyEntry)
	}
	return r.Bytes, nil
}

// Put stores data under key, without expiry.
func (s *PolicyStore) Put(ctx context.Context, key string, data []byte) error {
	return s.set(ctx, key, data, 0)
}

// PutExpiring stores data under key for ttl, rounded up to a millisecond.
// A ttl of zero or less has run out already: the key is deleted.
func (s *PolicyStore) PutExpiring(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return s.Delete(ctx, key)
	}
	return s.set(ctx, key, data, ttl)
}

// set stores data under key, expiring after ttl unless it is zero.
func (s *PolicyStore) set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if len(data) == 0 || len(data) > maxPolicyEntry {
		return fmt.Errorf("redisresp: a policy entry of %d bytes (want 1 to %d)", len(data), maxPolicyEntry)
	}
	args := []string{"SET", s.key(key), string(data)}
	if ttl > 0 {
		ms := (ttl + time.Millisecond - 1) / time.Millisecond
		args = append(args, "PX", strconv.FormatInt(int64(ms), 10))
	}
	if _, err := s.c.Do(ctx, args...); err != nil {
		return fmt.Errorf("redisresp: storing a policy: %w", err)
	}
	return nil
}

// Delete removes key.
func (s *PolicyStore) Delete(ctx context.Context, key string) error {
	if _, err := s.c.Do(ctx, "DEL", s.key(key)); err != nil {
		return fmt.Errorf("redisresp: deleting a policy: %w", err)
	}
	return nil
}

// Keys returns the keys of the stored policies (at most 100 000), found
// with SCAN, which does not block the server.
func (s *PolicyStore) Keys(ctx context.Context) ([]string, error) {
	full := s.key("")
	pattern := scanPattern(full)
	var keys []string
	cursor := "0"
	for {
		r, err := s.c.Do(ctx, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			return nil, fmt.Errorf("redisresp: listing the policies: %w", err)
		}
		if r.Kind != KindArray || len(r.Array) != 2 || r.Array[0].Kind != KindBulk || r.Array[1].Kind != KindArray {
			return nil, fmt.Errorf("redisresp: listing the policies: %w", &protocolError{what: "SCAN reply not [cursor, keys]"})
		}
		for _, k := range r.Array[1].Array {
			if len(keys) == maxListed {
				return keys, nil
			}
			if k, ok := strings.CutPrefix(string(k.Bytes), full); ok && k != "" {
				keys = append(keys, k)
			}
		}
		if cursor = string(r.Array[0].Bytes); cursor == "0" {
			return keys, nil
		}
	}
}

// scanPattern is a SCAN MATCH pattern matching at least every key that
// starts with prefix: each character special in a pattern becomes '?'.
// Keys filters what it returns by the exact prefix, so the pattern need
// not escape anything.
func scanPattern(prefix string) string {
	p := []byte(prefix + "*")
	for i, c := range p[:len(prefix)] {
		if strings.IndexByte(`*?[]\^`, c) >= 0 {
			p[i] = '?'
		}
	}
	return string(p)
}

// Interfaces of policycache the PolicyStore implements.
var (
	_ policycache.ExpiringStore = (*PolicyStore)(nil)
	_ policycache.StoreLister   = (*PolicyStore)(nil)
)
