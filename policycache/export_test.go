package policycache

// Maintain runs one pass of the background loop (due refreshes and the
// removal of useless domains) and waits for the refreshes it started.
func (c *Cache) Maintain() {
	c.maintain(true)
	c.domains.Range(func(_, v any) bool {
		st := v.(*domainState)
		st.mu.Lock()
		call := st.call
		st.mu.Unlock()
		if call != nil {
			<-call.done
		}
		return true
	})
}

// MemoryInUse reports the bytes the cache accounts for its entries.
func (c *Cache) MemoryInUse() int64 { return c.mem.bytes.Load() }

// Evicted reports how many domains eviction has forgotten.
func (c *Cache) Evicted() int64 { return c.mem.evicted.Load() }

// DiscoveryStats reports the discoveries running and queued now, and the
// most that ever ran at once.
func (c *Cache) DiscoveryStats() (running, queued, peak int) {
	c.limit.mu.Lock()
	defer c.limit.mu.Unlock()
	return c.limit.running, c.limit.queue.Len(), c.limit.peak
}

// EntryOverhead is the fixed estimate of one domain's bookkeeping.
const EntryOverhead = entryOverhead
