package redisresp

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// DefaultFetchLease is how long a fetch lock of a PolicyStore whose
// FetchLease is zero lasts unless released: policycache.DefaultTimeout,
// as the redisstore module's DefaultFetchLease.
const DefaultFetchLease = policycache.DefaultTimeout

// How often a LockFetch waiting for another process's lock asks again:
// first after lockPollFirst, then twice as long each time up to
// lockPollMax (the redisstore module's schedule).
const (
	lockPollFirst = 2 * time.Millisecond
	lockPollMax   = 50 * time.Millisecond
)

// unlockTimeout bounds the round trip that releases a fetch lock.
const unlockTimeout = 5 * time.Second

// unlockScript deletes a fetch lock if it still holds the caller's
// token: the compare-and-delete of the redisstore module's PolicyStore.
// KEYS: 1 lock. ARGV: 1 token. Returns 1 when it deleted the lock.
const unlockScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

func (s *PolicyStore) lockKey(key string) string { return s.prefix + "lock:" + key }

// LockFetch is policycache.FetchLocker, with the protocol of the
// redisstore module's PolicyStore.LockFetch, so that stsmapd daemons and
// Go MTAs on one Redis and prefix take one lock per policy domain. It
// blocks until the caller holds the lock of key, ctx ends or Redis
// fails; a Redis error is returned at once. The lock is the key prefix +
// "lock:" + key holding a random token, set with "SET NX PX" to expire
// after FetchLease (DefaultFetchLease when zero) if its holder crashed; a
// waiter asks again after 2 ms, then twice as long each time up to
// 50 ms. unlock deletes the key only if it still holds the caller's
// token (a Lua compare-and-delete run with EVAL), so that a holder whose
// lease ran out does not release the next holder's lock; it runs even
// after ctx ended, bounded to 5 s, and a failure leaves the lock to its
// lease.
func (s *PolicyStore) LockFetch(ctx context.Context, key string) (unlock func(), err error) {
	lease := s.FetchLease
	if lease <= 0 {
		lease = DefaultFetchLease
	}
	ms := strconv.FormatInt(max(lease.Milliseconds(), 1), 10)
	k, token := s.lockKey(key), rand.Text()
	for wait := lockPollFirst; ; wait = min(2*wait, lockPollMax) {
		r, err := s.c.Do(ctx, "SET", k, token, "NX", "PX", ms)
		if err != nil {
			return nil, fmt.Errorf("redisresp: taking the fetch lock of a policy: %w", err)
		}
		if r.Kind == KindStatus {
			break
		}
		if r.Kind != KindNil {
			return nil, fmt.Errorf("redisresp: taking the fetch lock of a policy: %w", &protocolError{what: "SET NX reply neither OK nor nil"})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("redisresp: waiting for the fetch lock of a policy: %w", ctx.Err())
		case <-t.C:
		}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		s.c.Do(ctx, "EVAL", unlockScript, "1", k, token)
	}, nil
}

var _ policycache.FetchLocker = (*PolicyStore)(nil)
