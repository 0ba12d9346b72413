package policycache

import (
	"context"
	"time"
)

// storeGrace is how much longer than its policy's max_age a stored entry
// is kept by an ExpiringStore: a margin for the clocks of the MTAs sharing
// the Store, none of which may see the entry vanish while its policy is
// still valid by its own clock.
const storeGrace = time.Hour

// An ExpiringStore is a Store that can forget an entry by itself, as a
// key-value service with expiring keys does. The Cache stores policies
// with PutExpiring when its Store is one, with ttl the time left until
// the policy's max_age runs out (RFC 8461 §3.2) plus a grace of one hour,
// so that a Store shared by a fleet does not keep expired policies.
type ExpiringStore interface {
	Store
	// PutExpiring is Put for data that the Store may delete ttl after
	// the call.
	PutExpiring(ctx context.Context, key string, data []byte, ttl time.Duration) error
}

// putEntry stores the encoded entry text of policy domain d, whose policy
// expires at expires.
func (c *Cache) putEntry(ctx context.Context, d, text string, expires time.Time) error {
	if es, ok := c.store.(ExpiringStore); ok {
		return es.PutExpiring(ctx, d, []byte(text), expires.Sub(c.now())+storeGrace)
	}
	return c.put(ctx, d, text)
}
