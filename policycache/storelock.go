package policycache

import (
	"context"
	"time"
)

// A FetchLocker is a Store shared by several processes that can also give
// one of them at a time the right to fetch a policy, so that a fleet of
// MTAs meeting a new policy id at the same instant fetches it once. Within
// one process a Cache already fetches each domain once; MemoryStore and
// DirStore need not implement it.
//
// When its Store is a FetchLocker, a Cache that is about to fetch the
// policy of a domain (the Store did not have the announced id; a background
// refresh is due) first takes the domain's lock, then reads the Store
// again: if another MTA stored the announced policy meanwhile, the Cache
// uses it and fetches nothing. Otherwise it fetches, stores the policy and
// unlocks.
//
// The lock is an optimisation, never a condition of delivery: when
// LockFetch fails, or its wait reaches the end of ctx, the Cache logs it
// and fetches without the lock, as it would without a FetchLocker
// (RFC 8461 §5: fail-open and fail-closed do not depend on the Store). A
// Cache waits for the lock at most half of what is left of its discovery
// (Config.Timeout), so that a fetch after a failed wait has the other
// half.
type FetchLocker interface {
	Store
	// LockFetch blocks until the caller holds the fetch lock of key, and
	// returns the function that releases it, or returns an error (ctx's
	// when ctx ends first). ctx bounds the wait, not the holding. The
	// lock must expire by itself (a lease at least as long as the Caches'
	// Config.Timeout), so that a holder that crashed blocks the key only
	// that long; unlock releases only the caller's own lock, and is
	// called once.
	LockFetch(ctx context.Context, key string) (unlock func(), err error)
}

// lockFetch takes the fetch lock of policy domain d from fl, the Cache's
// Store, and returns its release and true, or false when it could not. It
// waits at most half of what is left of ctx; a failed or timed-out wait is
// logged.
func (c *Cache) lockFetch(ctx context.Context, fl FetchLocker, d string) (unlock func(), locked bool) {
	wait := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}
	unlock, err := fl.LockFetch(wait, d)
	if err != nil {
		c.log.Warn("taking the fleet's MTA-STS fetch lock failed; fetching without it", "domain", d, "err", err)
		return nil, false
	}
	return unlock, true
}
