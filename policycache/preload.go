package policycache

import "context"

// maxPreloaded bounds the policies read from a StoreLister at start;
// Config.MaxMemory bounds what they take, as for any other entry.
const maxPreloaded = 100000

// preload runs once when the cache starts with a Store that lists its
// keys: it reads every valid policy in the Store into memory, due for a
// TXT check at the first Lookup, so that the refresh loop fetches each one
// again when its refresh time comes, or at once if it has passed while the
// MTA was down. Keys that are not policy domains in normal form, and
// entries that cannot be read, are corrupt or expired, are left alone:
// the first Lookup of their domain reads them again and logs what is
// wrong.
func (c *Cache) preload(l StoreLister) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	keys, err := l.Keys(ctx)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Warn("listing the stored MTA-STS policies failed; they are read when needed", "err", err)
		}
		return
	}
	if len(keys) > maxPreloaded {
		c.log.Warn("too many stored MTA-STS policies; reading the first ones", "keys", len(keys), "limit", maxPreloaded)
		keys = keys[:maxPreloaded]
	}
	read := 0
	for _, k := range keys {
		if c.ctx.Err() != nil {
			return
		}
		if d, err := normalDomain(k); err != nil || d != k {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		data, text, err := c.get(ctx, k) // c.store is l
		cancel()
		if err != nil {
			continue // a Lookup of k reads it again, and says what is wrong
		}
		now := c.now()
		e, _ := c.storedEntry(k, data, text, now)
		if e == nil {
			continue
		}
		e.checkAt = now
		e.hitUntil = c.hitUntil(now)
		st := c.state(k)
		over := false
		st.mu.Lock()
		if !st.dead && st.call == nil && st.cur.Load() == nil {
			over = c.account(nil, e)
			st.cur.Store(e)
			st.touch(c.hitNow())
			read++
		}
		st.mu.Unlock()
		if over {
			c.evict(c.ctx)
		}
	}
	c.log.Info("read the stored MTA-STS policies", "keys", len(keys), "policies", read)
}
