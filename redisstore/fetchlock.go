package redisstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// DefaultFetchLease is how long a fetch lock of a PolicyStore whose
// FetchLease is zero lasts unless released: policycache.DefaultTimeout,
// the longest a Cache with the default Config.Timeout holds it.
const DefaultFetchLease = policycache.DefaultTimeout

// How often a LockFetch waiting for another MTA's lock asks again: first
// after lockPollFirst, then twice as long each time up to lockPollMax.
const (
	lockPollFirst = 2 * time.Millisecond
	lockPollMax   = 50 * time.Millisecond
)

// unlockTimeout bounds the round trip that releases a fetch lock.
const unlockTimeout = 5 * time.Second

func (s *PolicyStore) lockKey(key string) string { return s.prefix + "lock:" + key }

// LockFetch is policycache.FetchLocker: it blocks until this caller holds
// the fleet's fetch lock of key, or ctx ends, or Redis fails. The lock is
// the key prefix + "lock:" + key holding a random token, set with
// "SET NX PX" so that it expires after FetchLease (DefaultFetchLease when
// zero) if its holder crashed; a waiter asks again after 2 ms, then
// twice as long each time up to 50 ms. unlock deletes the key only if it
// still holds the caller's token (a Lua compare-and-delete), so that a
// holder whose lease ran out does not release the next holder's lock.
func (s *PolicyStore) LockFetch(ctx context.Context, key string) (unlock func(), err error) {
	lease := s.FetchLease
	if lease <= 0 {
		lease = DefaultFetchLease
	}
	lease = max(lease, time.Millisecond)
	k, token := s.lockKey(key), rand.Text()
	for wait := lockPollFirst; ; wait = min(2*wait, lockPollMax) {
		ok, err := s.client.SetNX(ctx, k, token, lease).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: taking the fetch lock of a policy: %w", err)
		}
		if ok {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("redisstore: waiting for the fetch lock of a policy: %w", ctx.Err())
		case <-t.C:
		}
	}
	return func() {
		// The caller's ctx may be over; the release has its own bound. A
		// release that fails leaves the lock to its lease.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		unlockScript.Run(ctx, s.client, []string{k}, token)
	}, nil
}
