package policycache

// Len returns how many policy domains the cache holds in memory: each
// domain with a cached policy, and each with a recent answer that it has
// not forgotten yet (no MTA-STS record, a failed lookup, a failed fetch;
// the background loop forgets those once they are due, see the package
// documentation). It walks the cache, so it costs time proportional to
// its size: call it for metrics, not per delivery.
func (c *Cache) Len() int {
	n := 0
	c.domains.Range(func(any, any) bool {
		n++
		return true
	})
	return n
}
