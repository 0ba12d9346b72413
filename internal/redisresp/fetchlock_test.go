package redisresp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
)

// TestFetchLockExclusive: while one process holds the fetch lock of a
// key (prefix + "lock:" + key, leased for DefaultFetchLease), another
// waits until its ctx ends; another key is free; unlock frees the key
// for the next.
func TestFetchLockExclusive(t *testing.T) {
	ctx := context.Background()
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	const pfx = "fleet:"
	a, b := redisresp.NewPolicyStore(c, pfx), redisresp.NewPolicyStore(newClient(t, "redis://"+s.Addr), pfx)
	unlock, err := a.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, c, "GET", pfx+"lock:example.com"); r.Kind != redisresp.KindBulk || len(r.Bytes) == 0 {
		t.Fatalf("no token at %q: %+v", pfx+"lock:example.com", r)
	}
	if r := do(t, c, "PTTL", pfx+"lock:example.com"); r.Int <= 0 || r.Int > redisresp.DefaultFetchLease.Milliseconds() {
		t.Errorf("the lock expires in %d ms, want at most DefaultFetchLease (%v)", r.Int, redisresp.DefaultFetchLease)
	}
	other, err := b.LockFetch(ctx, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.LockFetch(short, "example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFetch of a held lock = %v, want the end of its ctx", err)
	}
	unlock()
	if r := do(t, c, "EXISTS", pfx+"lock:example.com"); r.Int != 0 {
		t.Fatal("unlock left the lock")
	}
	again, err := b.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	again()
}

// TestFetchLockLeaseExpires: a holder that crashed (it never unlocks)
// blocks the key until its lease runs out, then the waiter gets the lock;
// the crashed holder's late unlock does not release the new holder's
// lock, only the owner's unlock does.
func TestFetchLockLeaseExpires(t *testing.T) {
	ctx := context.Background()
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	crashed := redisresp.NewPolicyStore(c, "")
	crashed.FetchLease = 100 * time.Millisecond
	next := redisresp.NewPolicyStore(c, "")
	next.FetchLease = time.Minute
	lateUnlock, err := crashed.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	// The wait ends when Redis expires the lease, a server-side event;
	// the minute only bounds a hang.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	unlock, err := next.LockFetch(wait, "example.com")
	if err != nil {
		t.Fatalf("LockFetch after the holder's lease ran out: %v", err)
	}
	lateUnlock()
	if r := do(t, c, "EXISTS", "lock:example.com"); r.Int != 1 {
		t.Fatal("the crashed holder's unlock released another holder's lock")
	}
	if r := do(t, c, "PTTL", "lock:example.com"); r.Int <= 100 {
		t.Errorf("the new lock expires in %d ms, want its own lease of a minute", r.Int)
	}
	unlock()
	if r := do(t, c, "EXISTS", "lock:example.com"); r.Int != 0 {
		t.Fatal("the holder's unlock left its lock")
	}
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
