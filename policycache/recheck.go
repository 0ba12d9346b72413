package policycache

import (
	"context"
	"errors"
	"time"
)

// RecheckInterval is the shortest time between two discoveries of one
// policy domain that Recheck starts: rechecks asked for more often are
// answered with what the last discovery found.
const RecheckInterval = time.Minute

// Recheck runs a fresh discovery of the policy of domain, ignoring the TTL
// of the TXT record, and returns its Result. An MTA calls it before it
// permanently fails a message that no MX host took under the policy (RFC
// 8461 §5.1: "check for a new policy ... before failing"): a domain that
// has just moved its mail, and its policy, is then delivered to at once.
//
// It is paced so that no flood of bounces becomes a flood of queries or
// fetches: it joins a discovery of the domain already running (like
// Lookup), returns the last answer when it started one less than
// RecheckInterval ago, and, as every discovery, fetches a policy only
// when the TXT record announces an id that is not cached and whose fetch
// has not failed in the last Config.FetchBackoff (§3.3). Errors are those
// of Lookup.
func (c *Cache) Recheck(ctx context.Context, domain string) (Result, error) {
	d, err := normalDomain(domain)
	if err != nil {
		return Result{}, err
	}
	if c.closed.Load() {
		return Result{}, ErrClosed
	}
	return c.await(ctx, d, c.recheckFlight)
}

// await returns the answer for d that pick gives: the entry it found
// fresh, or the outcome of the discovery it joined or started (pick counts
// the caller among its waiters), unless ctx ends first (see gaveUp). It
// starts over when the domain's state was removed meanwhile.
func (c *Cache) await(ctx context.Context, d string, pick func(*domainState, string) (*flight, *entry, error)) (Result, error) {
	for {
		st := c.state(d)
		call, hit, err := pick(st, d)
		if errors.Is(err, errStateGone) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		st.touch(c.hitNow())
		if hit != nil {
			return hit.result, nil
		}
		select {
		case <-call.done:
			return call.res, call.err
		case <-ctx.Done():
			c.leave(st, d, call)
			return c.gaveUp(st, ctx.Err())
		}
	}
}

// recheckFlight is flightFor for Recheck: it starts a discovery even when
// the current entry is fresh, unless a Recheck started one less than
// RecheckInterval ago; then it is flightFor.
func (c *Cache) recheckFlight(st *domainState, d string) (call *flight, hit *entry, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead {
		return nil, nil, errStateGone
	}
	if st.call != nil {
		st.call.waiters++
		return st.call, nil, nil
	}
	now := c.now()
	paced := now.Before(st.recheckAt)
	if e := st.cur.Load(); paced && e != nil && now.Before(e.checkAt) {
		// Rechecked moments ago: the answer stands (a Lookup's rules
		// decide when it is due anyway).
		return nil, e, nil
	}
	call = &flight{done: make(chan struct{})}
	if !c.startDiscovery(st, d, call) {
		return nil, nil, ErrClosed
	}
	if !paced {
		st.recheckAt = now.Add(RecheckInterval)
	}
	st.call = call
	call.waiters++
	return call, nil, nil
}
