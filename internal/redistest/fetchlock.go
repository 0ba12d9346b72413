package redistest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/policycache"
)

// NewFetchLocker returns the Redis store of one process, on the server
// under test, with its keys under prefix and its fetch locks leased for
// lease (zero: its default).
type NewFetchLocker func(prefix string, lease time.Duration) policycache.FetchLocker

// RespLocker returns a NewFetchLocker of one process using the core's
// internal Redis store, redisresp.PolicyStore, on s; its client is
// closed when the test ends.
func RespLocker(t testing.TB, s *Server) NewFetchLocker {
	c := redisresp.NewClient(redisresp.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return func(prefix string, lease time.Duration) policycache.FetchLocker {
		ps := redisresp.NewPolicyStore(c, prefix)
		ps.FetchLease = lease
		return ps
	}
}

// CheckFetchLock checks on s the fleet's fetch lock of the Redis stores
// made by a and b, as two processes (of one implementation or of two:
// the redisstore module's PolicyStore and the core's internal one must
// take one lock), each in turn holding and waiting:
//   - the lock of key is prefix + "lock:" + key, leased for at most
//     policycache.DefaultTimeout by default;
//   - while it is held, the other waits until its ctx ends; another key
//     is free;
//   - unlock deletes it, and a waiter gets it then;
//   - a holder that crashed blocks the key until its lease runs out,
//     and its late unlock does not release the next holder's lock.
func CheckFetchLock(t *testing.T, s *Server, prefix string, a, b NewFetchLocker) {
	opts := redisresp.Options{Addr: s.Addr}
	c := redisresp.NewClient(opts)
	defer c.Close()
	do := func(t *testing.T, args ...string) redisresp.Reply {
		t.Helper()
		r, err := c.Do(context.Background(), args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return r
	}
	for _, tt := range []struct {
		name           string
		holder, waiter NewFetchLocker
	}{{"first holds", a, b}, {"second holds", b, a}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			key := prefix + "lock:example.com"
			holder, waiter := tt.holder(prefix, 0), tt.waiter(prefix, 0)
			unlock, err := holder.LockFetch(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			if r := do(t, "GET", key); r.Kind != redisresp.KindBulk || len(r.Bytes) == 0 {
				t.Fatalf("no token at %q: %+v", key, r)
			}
			if r := do(t, "PTTL", key); r.Int <= 0 || r.Int > policycache.DefaultTimeout.Milliseconds() {
				t.Errorf("the lock expires in %d ms, want at most policycache.DefaultTimeout", r.Int)
			}
			other, err := waiter.LockFetch(ctx, "example.net")
			if err != nil {
				t.Fatalf("the lock of another key: %v", err)
			}
			other()
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err = waiter.LockFetch(short, "example.com")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("LockFetch of a held lock = %v, want the end of its ctx", err)
			}
			got := make(chan error, 1)
			go func() {
				// The minute only bounds a hang: the wait ends with unlock.
				wait, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				next, err := waiter.LockFetch(wait, "example.com")
				if err == nil {
					next()
				}
				got <- err
			}()
			unlock()
			if err := <-got; err != nil {
				t.Fatalf("the waiter after unlock: %v", err)
			}
			if r := do(t, "EXISTS", key); r.Int != 0 {
				t.Fatal("unlock left the lock")
			}

			crashed, next := tt.holder(prefix, 100*time.Millisecond), tt.waiter(prefix, time.Minute)
			lateUnlock, err := crashed.LockFetch(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			// The wait ends when Redis expires the lease, a server-side
			// event; the minute only bounds a hang.
			wait, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			unlock, err = next.LockFetch(wait, "example.com")
			if err != nil {
				t.Fatalf("LockFetch after the holder's lease ran out: %v", err)
			}
			lateUnlock()
			if r := do(t, "EXISTS", key); r.Int != 1 {
				t.Fatal("the crashed holder's unlock released another holder's lock")
			}
			if r := do(t, "PTTL", key); r.Int <= 100 {
				t.Errorf("the new lock expires in %d ms, want its own lease of a minute", r.Int)
			}
			unlock()
			if r := do(t, "EXISTS", key); r.Int != 0 {
				t.Fatal("the holder's unlock left its lock")
			}
		})
	}
}
