package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/redisstore"
)

// TestFetchLock: the fleet's fetch lock of two MTAs' PolicyStores
// (redistest.CheckFetchLock): exclusive, per key, released by unlock,
// expiring with its lease, released only by its owner.
func TestFetchLock(t *testing.T) {
	l := lockerOn(client(t, shared.Addr))
	redistest.CheckFetchLock(t, shared, prefix(t), l, l)
}

// lockerOn returns a maker of PolicyStores of one MTA on rc.
func lockerOn(rc redis.UniversalClient) redistest.NewFetchLocker {
	return func(prefix string, lease time.Duration) policycache.FetchLocker {
		ps := redisstore.NewPolicyStore(rc, prefix)
		ps.FetchLease = lease
		return ps
	}
}

// With Redis unreachable, LockFetch fails (after go-redis's own retries) instead of waiting: the
// Cache then fetches without the lock.
func TestFetchLockRedisDown(t *testing.T) {
	s := redistest.Start(t)
	rc := client(t, s.Addr)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	ps := redisstore.NewPolicyStore(rc, prefix(t))
	if _, err := ps.LockFetch(context.Background(), "example.com"); err == nil {
		t.Fatal("LockFetch with Redis down succeeded")
	}
}
