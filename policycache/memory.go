package policycache

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxMemory is the default of Config.MaxMemory: 64 MiB, room for
// tens of thousands of policy domains of usual size.
const DefaultMaxMemory = 64 << 20

// entryOverhead is what an entry costs in memory besides its strings and
// slices: the entry and its Result, the domain's state and its place in
// the map of domains, the policy's struct. It was measured with
// runtime.MemStats: about 590 bytes over 100 000 cached policies (stsmapd's
// BenchmarkMemory100k), more with 100 (TestMemoryPerDomain, which must
// account for at least four fifths of what it retains); rounded up.
const entryOverhead = 800

// evictTo is the share of MaxMemory that an eviction pass brings the
// cache down to, so that passes are rare: one pass per eighth of the bound
// filled again.
const evictTo = 7.0 / 8

// memory is the accounting of the bytes a Cache holds in its entries.
type memory struct {
	max int64
	// bytes is an estimate: exact after a pass, then the increments of
	// new entries (domains the refresh loop forgets are not subtracted, so
	// it errs high, and the next pass corrects it).
	bytes atomic.Int64
	// trigger is the estimate above which a pass runs: max, or more after
	// a pass that could not get under it (every domain in discovery or
	// unstored), so that passes stay rare.
	trigger atomic.Int64
	pass    sync.Mutex // held by the eviction pass in progress
	// evicted counts the domains forgotten by eviction passes.
	evicted atomic.Int64
}

// footprint estimates the bytes that e keeps alive: its text (the stored
// form of the policy, shared by the policy's strings and the TLS-RPT lines),
// the string and slice headers pointing into it, the error it reports and
// the fixed entryOverhead.
func (e *entry) footprint() int64 {
	n := entryOverhead + len(e.result.Domain) + allocated(len(e.text))
	if p := e.result.Policy; p != nil {
		n += 16*len(p.MX) + 32*len(p.Extensions)
		n += 16 * len(e.result.AppliedPolicy.PolicyString)
		if e.text == "" {
			// No shared text (not expected): count the strings themselves.
			for _, l := range e.result.AppliedPolicy.PolicyString {
				n += len(l)
			}
		}
	}
	if e.result.Err != nil {
		n += len(e.result.Err.Error())
	}
	return int64(n)
}

// allocated is about what the Go allocator takes for n bytes: objects
// larger than 32 KiB take whole 8 KiB pages.
func allocated(n int) int {
	const small, page = 32 << 10, 8 << 10
	if n <= small {
		return n
	}
	return (n + page - 1) / page * page
}

// touch records that st was used at now (hitNow units). It writes only
// when the stamp changes, which with the coarse clock is at most once per
// clockTick, so that hits on a popular domain from every core keep its
// cache line shared.
func (st *domainState) touch(now int64) {
	if st.used.Load() != now {
		st.used.Store(now)
	}
}

// account records that old (nil if none) was replaced by e in a domain's
// state and reports whether the cache now holds more than its bound.
func (c *Cache) account(old, e *entry) bool {
	e.size = e.footprint()
	var was int64
	if old != nil {
		was = old.size
	}
	return c.mem.bytes.Add(e.size-was) > c.mem.trigger.Load()
}

// evict runs an eviction pass unless one is in progress: it sums what the
// domains hold and, when that is over MaxMemory, forgets the least recently
// used domains until it is under evictTo of it. Domains with a discovery in
// progress are kept. A valid policy is forgotten only once it is in the
// Store (written again now if it could not be before), from which the
// next Lookup reloads it: eviction never loses a policy that RFC 8461
// §3.3 says to apply when discovery fails.
//
// A discovery that crosses the bound while a pass runs does not start
// another; the running pass looks again once it is done, so that what such
// discoveries added is not left over the bound.
func (c *Cache) evict(ctx context.Context) {
	for range 2 {
		if !c.mem.pass.TryLock() {
			return
		}
		c.evictPass(ctx)
		c.mem.pass.Unlock()
		if c.mem.bytes.Load() <= c.mem.trigger.Load() {
			return
		}
	}
}

// evictPass is one eviction pass; the caller holds c.mem.pass.
func (c *Cache) evictPass(ctx context.Context) {
	start := c.mem.bytes.Load()

	type candidate struct {
		d    string
		st   *domainState
		e    *entry
		used int64
	}
	var (
		all   []candidate
		total int64
	)
	c.domains.Range(func(k, v any) bool {
		st := v.(*domainState)
		if e := st.cur.Load(); e != nil {
			total += e.size
			all = append(all, candidate{k.(string), st, e, st.used.Load()})
		}
		return true
	})
	if total > c.mem.max {
		slices.SortFunc(all, func(a, b candidate) int { return cmp.Compare(a.used, b.used) })
		now := c.now()
		target := int64(float64(c.mem.max) * evictTo)
		for _, x := range all {
			if total <= target {
				break
			}
			if x.e.validAt(now) && !x.e.stored && !c.save(ctx, x.e) {
				continue // keep a policy the Store does not hold
			}
			if c.forget(x.d, x.st, x.e) {
				total -= x.e.size
				c.mem.evicted.Add(1)
			} else if c.cold != nil {
				c.cold.delete(x.d) // still in memory: no second copy
			}
		}
	}
	// Keep the increments of discoveries that ended during the pass.
	c.mem.bytes.Add(total - start)
	c.mem.trigger.Store(max(c.mem.max, total+c.mem.max/8))
}

// forget removes the state st of d from the cache, unless a discovery of d
// is in progress or its entry is no longer e. It reports whether it did.
func (c *Cache) forget(d string, st *domainState, e *entry) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead || st.call != nil || st.cur.Load() != e {
		return false
	}
	st.dead = true
	c.domains.CompareAndDelete(d, st)
	return true
}
