package redisresp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
)

// TestFetchLock: the fleet's fetch lock of two processes' PolicyStores
// (redistest.CheckFetchLock): exclusive, per key, released by unlock,
// expiring with its lease, released only by its owner.
func TestFetchLock(t *testing.T) {
	s := redistest.Start(t)
	redistest.CheckFetchLock(t, s, "fleet:", redistest.RespLocker(t, s), redistest.RespLocker(t, s))
}

// TestFetchLockUnlockAfterCancel: unlock works after the ctx of
// LockFetch was cancelled (it runs on its own bound).
func TestFetchLockUnlockAfterCancel(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	ctx, cancel := context.WithCancel(context.Background())
	unlock, err := redisresp.NewPolicyStore(c, "").LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	unlock()
	if r := do(t, c, "EXISTS", "lock:example.com"); r.Int != 0 {
		t.Fatal("unlock after the end of ctx left the lock")
	}
}

// TestFetchLockRedisDown: with Redis stopped, LockFetch fails at once
// instead of waiting (the Cache then fetches without the lock), and
// the error is not the end of ctx.
func TestFetchLockRedisDown(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := redisresp.NewPolicyStore(c, "").LockFetch(context.Background(), "example.com")
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Fatalf("LockFetch with Redis down = %v, want a Redis error", err)
	}
}

// BenchmarkLockFetch is an uncontended lock and unlock: two round trips
// to a local redis-server, paid only by a discovery that fetches.
func BenchmarkLockFetch(b *testing.B) {
	s := redistest.Start(b)
	ps := redisresp.NewPolicyStore(newClient(b, "redis://"+s.Addr), "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := ps.LockFetch(ctx, "example.com")
		if err != nil {
			b.Fatal(err)
		}
		unlock()
	}
}
