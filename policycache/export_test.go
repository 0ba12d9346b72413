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

// Domains reports how many policy domains the cache remembers.
func (c *Cache) Domains() int {
	n := 0
	c.domains.Range(func(_, _ any) bool { n++; return true })
	return n
}
