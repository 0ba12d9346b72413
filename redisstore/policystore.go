package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/policycache"
)

// maxPolicyEntry bounds what PolicyStore.Get reads of one value: far more
// than a cache entry needs (a policy is at most 64 KiB), as for
// policycache.DirStore.
const maxPolicyEntry = 1 << 20

// maxListed bounds the keys PolicyStore.Keys returns.
const maxListed = 100000

// PolicyStore is a policycache.Store in Redis, shared by the Caches of a
// fleet of MTAs so that the fleet fetches each policy once: a Cache reads
// the Store when it meets a new policy id and writes it after a fetch
// (Lookup hits never reach Redis). It keeps the bytes the Cache hands it,
// as policycache.DirStore does, under the key prefix + "policy:" + policy
// domain, and expires them with their policy: it is a
// policycache.ExpiringStore, and a policycache.StoreLister so that a
// restarted MTA refreshes the fleet's policies before they are needed.
//
// It is also a policycache.FetchLocker: when MTAs meet a new policy id at
// the same instant, one of them fetches it while the others wait for its
// lock and then read what it stored (see LockFetch).
//
// A PolicyStore is safe for concurrent use. Create it with NewPolicyStore,
// and set FetchLease before first use if needed.
type PolicyStore struct {
	// FetchLease is how long a fetch lock lasts unless released: at
	// least the Caches' policycache.Config.Timeout. Zero means
	// DefaultFetchLease.
	FetchLease time.Duration

	client redis.UniversalClient
	prefix string
}

// NewPolicyStore returns a PolicyStore on client whose keys start with
// prefix (for example "smtpsec:"; "" is allowed).
func NewPolicyStore(client redis.UniversalClient, prefix string) *PolicyStore {
	return &PolicyStore{client: client, prefix: prefix}
}

func (s *PolicyStore) key(key string) string { return s.prefix + "policy:" + key }

// Get returns the entry of key, or policycache.ErrCacheMiss. It reads at
// most 1 MiB: a larger value is an error.
func (s *PolicyStore) Get(ctx context.Context, key string) ([]byte, error) {
	// GETRANGE reads at most maxPolicyEntry+1 bytes; an empty value,
	// which the Cache never writes, is a missing key.
	data, err := s.client.GetRange(ctx, s.key(key), 0, maxPolicyEntry).Bytes()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading a policy: %w", err)
	}
	if len(data) == 0 {
		return nil, policycache.ErrCacheMiss
	}
	if len(data) > maxPolicyEntry {
		return nil, fmt.Errorf("redisstore: the policy entry of key %q is larger than %d bytes", s.key(key), maxPolicyEntry)
	}
	return data, nil
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
	return s.set(ctx, key, data, max(ttl, time.Millisecond))
}

// set stores data under key, expiring after ttl unless it is zero.
func (s *PolicyStore) set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if len(data) == 0 || len(data) > maxPolicyEntry {
		return fmt.Errorf("redisstore: a policy entry of %d bytes (want 1 to %d)", len(data), maxPolicyEntry)
	}
	if err := s.client.Set(ctx, s.key(key), data, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: storing a policy: %w", err)
	}
	return nil
}

// Delete removes key.
func (s *PolicyStore) Delete(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.key(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: deleting a policy: %w", err)
	}
	return nil
}

// Keys returns the keys of the stored policies (at most 100 000), found
// with SCAN, which does not block the server.
func (s *PolicyStore) Keys(ctx context.Context) ([]string, error) {
	full := s.key("")
	it := s.client.Scan(ctx, 0, globEscape(full)+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		if len(keys) == maxListed {
			return keys, nil
		}
		if k, ok := strings.CutPrefix(it.Val(), full); ok && k != "" {
			keys = append(keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: listing the policies: %w", err)
	}
	return keys, nil
}

// globEscape escapes the characters special in a SCAN MATCH pattern.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\^`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Interfaces of policycache the PolicyStore implements.
var (
	_ policycache.ExpiringStore = (*PolicyStore)(nil)
	_ policycache.StoreLister   = (*PolicyStore)(nil)
	_ policycache.FetchLocker   = (*PolicyStore)(nil)
)
