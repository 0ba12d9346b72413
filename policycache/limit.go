package policycache

import (
	"container/list"
	"errors"
	"sync"
)

// DefaultMaxDiscoveries is the default of Config.MaxDiscoveries.
const DefaultMaxDiscoveries = 64

// limiter bounds the discoveries that Lookups start: at most max run at
// once, each in its own goroutine; the others wait in a queue, first come
// first served, without a goroutine of their own. A goroutine that ends a
// discovery takes the next one from the queue.
type limiter struct {
	mu      sync.Mutex
	max     int
	running int
	queue   list.List // of *flight, waiting for a slot
	peak    int       // the most discoveries that ran at once
}

// startDiscovery runs call, the discovery of d, at once if a slot is free
// and queues it otherwise. It reports false when the cache is closed. The
// caller holds st.mu.
func (c *Cache) startDiscovery(st *domainState, d string, call *flight) bool {
	l := &c.limit
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running < l.max {
		if !c.goroutineStarting() {
			return false
		}
		l.running++
		l.peak = max(l.peak, l.running)
		go c.work(st, d, call)
		return true
	}
	if c.closed.Load() {
		return false
	}
	call.st, call.d = st, d
	call.queued = l.queue.PushBack(call)
	return true
}

// work runs discoveries, starting with call, then those queued, until the
// queue is empty. Once the cache is closed, queued discoveries end at once
// with ErrClosed.
func (c *Cache) work(st *domainState, d string, call *flight) {
	defer c.wg.Done()
	for call != nil {
		if c.ctx.Err() != nil {
			c.settle(c.ctx, st, call, nil, false)
		} else {
			c.discoverFor(st, d, call, false)
		}
		st, d, call = c.next()
	}
}

// next takes the first queued discovery, or gives up the slot when there
// is none.
func (c *Cache) next() (*domainState, string, *flight) {
	l := &c.limit
	l.mu.Lock()
	defer l.mu.Unlock()
	front := l.queue.Front()
	if front == nil {
		l.running--
		return nil, "", nil
	}
	call := l.queue.Remove(front).(*flight)
	call.queued = nil
	st, d := call.st, call.d
	call.st = nil
	return st, d, call
}

// leave is called when the context of a Lookup waiting for call ends.
// When that was the last Lookup waiting and the discovery is still
// queued, it is dropped: a discovery nobody waits for does not hold its
// place in the queue, nor does its domain stay in memory with nothing
// known about it.
func (c *Cache) leave(st *domainState, d string, call *flight) {
	st.mu.Lock()
	defer st.mu.Unlock()
	call.waiters--
	if call.waiters > 0 || st.call != call {
		return
	}
	l := &c.limit
	l.mu.Lock()
	queued := call.queued != nil
	if queued {
		l.queue.Remove(call.queued)
		call.queued, call.st = nil, nil
	}
	l.mu.Unlock()
	if !queued {
		return
	}
	st.call = nil
	if st.cur.Load() == nil {
		st.dead = true
		c.domains.CompareAndDelete(d, st)
	}
	call.err = errAbandoned // seen by no Lookup: none waits
	close(call.done)
}

// errAbandoned ends a queued discovery that every Lookup stopped waiting
// for.
var errAbandoned = errors.New("policycache: discovery abandoned")

// gaveUp is the outcome of a Lookup whose context ended (with err) before
// the discovery it waited for: a cached policy still within its max_age is
// applied, not fresh (fail-closed, RFC 8461 §3.3, as when discovery
// fails); with none, Lookup returns err. Not no policy: a queue filled by
// someone else's domains must not remove protection, so the caller
// decides (an MTA defers the delivery).
func (c *Cache) gaveUp(st *domainState, err error) (Result, error) {
	e := st.cur.Load()
	if !e.validAt(c.now()) {
		return Result{}, err
	}
	res := e.result
	res.FromCache, res.Fresh, res.Err = true, false, err
	return res, nil
}
