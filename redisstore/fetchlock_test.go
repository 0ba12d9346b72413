package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/redisstore"
)

// The fetch lock of a key is exclusive: while one MTA holds it, another
// waits until its ctx ends. Unlocking frees it for the next.
func TestFetchLockExclusive(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	pfx := prefix(t)
	a, b := redisstore.NewPolicyStore(rc, pfx), redisstore.NewPolicyStore(rc, pfx)
	unlock, err := a.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if rc.Get(ctx, pfx+"lock:example.com").Val() == "" {
		t.Fatalf("no lock at %q", pfx+"lock:example.com")
	}
	if ttl := rc.PTTL(ctx, pfx+"lock:example.com").Val(); ttl <= 0 || ttl > redisstore.DefaultFetchLease {
		t.Errorf("the lock expires in %v, want at most DefaultFetchLease (%v)", ttl, redisstore.DefaultFetchLease)
	}
	// Another key is not locked.
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
	if n := rc.Exists(ctx, pfx+"lock:example.com").Val(); n != 0 {
		t.Fatal("unlock left the lock")
	}
	again, err := b.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	again()
}

// A holder that crashed (it never unlocks) blocks the key until its lease
// runs out: the next LockFetch waits for that and gets the lock. The
// crashed holder's late unlock does not release the new holder's lock.
func TestFetchLockLeaseExpires(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	pfx := prefix(t)
	crashed := redisstore.NewPolicyStore(rc, pfx)
	crashed.FetchLease = 100 * time.Millisecond
	next := redisstore.NewPolicyStore(rc, pfx)
	next.FetchLease = time.Minute
	lateUnlock, err := crashed.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	// The wait ends when Redis expires the lease, a server-side event;
	// the minute is only a safety net.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	unlock, err := next.LockFetch(wait, "example.com")
	if err != nil {
		t.Fatalf("LockFetch after the holder's lease ran out: %v", err)
	}
	lateUnlock()
	if n := rc.Exists(ctx, pfx+"lock:example.com").Val(); n != 1 {
		t.Fatal("the crashed holder's unlock released another holder's lock")
	}
	if ttl := rc.PTTL(ctx, pfx+"lock:example.com").Val(); ttl <= 100*time.Millisecond {
		t.Errorf("the new lock expires in %v, want its own lease of a minute", ttl)
	}
	unlock()
	if n := rc.Exists(ctx, pfx+"lock:example.com").Val(); n != 0 {
		t.Fatal("the holder's unlock left its lock")
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
