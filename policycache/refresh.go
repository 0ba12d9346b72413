package policycache

import "time"

// loop runs until Close: at every tick it starts the background refreshes
// that are due (when refresh is set) and forgets domains that have nothing
// worth remembering; every clockTick it advances the coarse clock.
func (c *Cache) loop(refresh bool) {
	defer c.wg.Done()
	t := time.NewTicker(c.tick())
	defer t.Stop()
	var clock <-chan time.Time
	if c.useCoarse {
		ct := time.NewTicker(clockTick)
		defer ct.Stop()
		clock = ct.C
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-clock:
			c.coarse.Store(time.Now().UnixNano())
		case <-t.C:
			c.maintain(refresh)
		}
	}
}

// tick is how often the loop looks for due refreshes: an eighth of
// RefreshInterval, at most a minute.
func (c *Cache) tick() time.Duration {
	return min(time.Minute, max(c.refreshInterval/8, time.Millisecond))
}

// maintain walks the domains once. It starts a background refresh (RFC 8461
// §3.3: "proactively refresh cached policies before they expire") of each
// cached policy whose refresh time has come, at most maxRefreshing at a
// time; the rest wait for a later tick. It removes domains without a valid
// policy whose entry is due for a new lookup anyway and whose fetch
// back-off is over: forgetting them loses nothing.
func (c *Cache) maintain(refresh bool) {
	now := c.now()
	if c.cold != nil {
		c.cold.prune(now)
	}
	c.domains.Range(func(k, v any) bool {
		d, st := k.(string), v.(*domainState)
		e := st.cur.Load()
		if e == nil {
			return true
		}
		if !e.validAt(now) {
			if !now.Before(e.checkAt) && (e.failed == nil || !now.Before(e.failed.retryAt)) {
				st.mu.Lock()
				if st.call == nil && st.cur.Load() == e {
					st.dead = true
					c.domains.CompareAndDelete(d, st)
				}
				st.mu.Unlock()
			}
			return true
		}
		if !refresh || e.refreshAt.IsZero() || now.Before(e.refreshAt) {
			return true
		}
		return c.startRefresh(st, d)
	})
}

// startRefresh starts a background refresh of d unless a discovery of d is
// running already. It reports false when maxRefreshing refreshes are
// running or the cache is closed.
func (c *Cache) startRefresh(st *domainState, d string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead || st.call != nil {
		return true
	}
	select {
	case c.refreshing <- struct{}{}:
	default:
		return false
	}
	if !c.goroutineStarting() {
		<-c.refreshing
		return false
	}
	st.call = &flight{done: make(chan struct{})}
	go c.run(st, d, st.call, true)
	return true
}
