package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/policycache"
)

// Timeouts of the Redis store: a Redis that is down or slow delays a
// discovery by at most these, and never fails it.
const (
	redisDialTimeout    = 2 * time.Second
	redisCommandTimeout = 2 * time.Second
)

// storeKind is a parsed Config.Store.
type storeKind struct {
	dir    string             // "dir:PATH"
	redis  *redisresp.Options // a Redis URL
	prefix string             // of the Redis keys
}

// isRedisURL reports whether the store setting s is a Redis URL.
func isRedisURL(s string) bool {
	for _, p := range [...]string{"redis://", "rediss://", "unix://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// parseStore reads a store setting. Its errors never quote a Redis URL,
// which may hold a password.
func parseStore(s string) (storeKind, error) {
	switch {
	case s == "memory" || s == "":
		return storeKind{}, nil
	case strings.HasPrefix(s, "dir:") && len(s) > len("dir:"):
		return storeKind{dir: s[len("dir:"):]}, nil
	case isRedisURL(s):
		u, err := url.Parse(s)
		if err != nil {
			return storeKind{}, errors.New("store: invalid Redis URL")
		}
		q := u.Query()
		prefix := q.Get("prefix")
		q.Del("prefix")
		u.RawQuery = q.Encode()
		opts, err := redisresp.ParseURL(u.String())
		if err != nil {
			return storeKind{}, fmt.Errorf("store: %w", err)
		}
		opts.DialTimeout, opts.CommandTimeout = redisDialTimeout, redisCommandTimeout
		return storeKind{redis: &opts, prefix: prefix}, nil
	}
	return storeKind{}, errors.New(`store: neither "memory" nor "dir:PATH" nor a redis://, rediss:// or unix:// URL`)
}

// redactStore returns the store setting s fit for a log line: a Redis
// URL without its password.
func redactStore(s string) string {
	if !isRedisURL(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid Redis URL)"
	}
	return u.Redacted()
}

// openStore returns the policy store of sk, and the Redis client to close
// with it (nil for the other stores). Store errors are counted in
// errCount; policycache logs them and goes on from memory and the network.
// A Redis store's fetch lock is leased for discoveryTimeout, the longest
// the Cache holds it.
func openStore(sk storeKind, discoveryTimeout time.Duration, errCount *atomic.Int64) (policycache.Store, *redisresp.Client, error) {
	switch {
	case sk.dir != "":
		if err := os.MkdirAll(sk.dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("store: %w", err)
		}
		return policycache.DirStore(sk.dir), nil, nil
	case sk.redis != nil:
		c := redisresp.NewClient(*sk.redis)
		ps := redisresp.NewPolicyStore(c, sk.prefix)
		ps.FetchLease = discoveryTimeout
		return countingStore{ps, errCount}, c, nil
	}
	// "memory": no Store, the Cache keeps evicted policies itself, compactly.
	return nil, nil, nil
}

// countingStore is the Redis policy store counting its failures (a miss
// is not one). It keeps the store's expiry, listing and fetch lock.
type countingStore struct {
	next *redisresp.PolicyStore
	n    *atomic.Int64
}

// count counts err if it is a failure, and returns it.
func (s countingStore) count(err error) error {
	if err != nil && !errors.Is(err, policycache.ErrCacheMiss) {
		s.n.Add(1)
	}
	return err
}

// Get reads key.
func (s countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := s.next.Get(ctx, key)
	return data, s.count(err)
}

// Put stores key without expiry.
func (s countingStore) Put(ctx context.Context, key string, data []byte) error {
	return s.count(s.next.Put(ctx, key, data))
}

// PutExpiring stores key for ttl.
func (s countingStore) PutExpiring(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return s.count(s.next.PutExpiring(ctx, key, data, ttl))
}

// Delete removes key.
func (s countingStore) Delete(ctx context.Context, key string) error {
	return s.count(s.next.Delete(ctx, key))
}

// Keys lists the stored keys.
func (s countingStore) Keys(ctx context.Context) ([]string, error) {
	keys, err := s.next.Keys(ctx)
	return keys, s.count(err)
}

// LockFetch takes the fleet's fetch lock of key, the one the redisstore
// module's PolicyStore takes. A wait that ends with ctx (another process
// holds the lock that long) is not a Redis failure and is not counted.
func (s countingStore) LockFetch(ctx context.Context, key string) (unlock func(), err error) {
	unlock, err = s.next.LockFetch(ctx, key)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		s.n.Add(1)
	}
	return unlock, err
}

// Interfaces of policycache the countingStore keeps.
var (
	_ policycache.ExpiringStore = countingStore{}
	_ policycache.StoreLister   = countingStore{}
	_ policycache.FetchLocker   = countingStore{}
)
