package policycache

import "context"

// A StoreLister is a Store that can list its keys. A Cache whose Store is
// one reads, when it starts, every policy the Store holds and schedules
// its background refresh, so that a restarted MTA (or a new member of a
// fleet sharing the Store) refreshes its policies before deliveries need
// them (RFC 8461 §3.3: "proactively refresh cached policies before they
// expire"). Stores with only the three methods of Store still work: their
// policies are read when a Lookup first needs them.
//
// DirStore and MemoryStore implement it.
type StoreLister interface {
	Store
	// Keys returns every key the Store holds, in no particular order.
	Keys(ctx context.Context) ([]string, error)
}
