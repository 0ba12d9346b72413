package policycache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// lockingStore is a MemoryStore that is a FetchLocker, recording how the
// Cache uses the lock. onLock, when set, runs inside LockFetch, as what
// other MTAs do while this one waits; err, when set, is LockFetch's
// failure.
type lockingStore struct {
	*policycache.MemoryStore

	mu       sync.Mutex
	locked   []string        // the keys locked, in order
	unlocks  int             // releases
	storedAt []bool          // per release: whether the Store held the key
	waitLeft []time.Duration // per LockFetch: how long its ctx let it wait
	onLock   func()
	err      error
}

func (s *lockingStore) LockFetch(ctx context.Context, key string) (func(), error) {
	s.mu.Lock()
	s.locked = append(s.locked, key)
	if deadline, ok := ctx.Deadline(); ok {
		s.waitLeft = append(s.waitLeft, time.Until(deadline))
	}
	onLock, err := s.onLock, s.err
	s.mu.Unlock()
	if onLock != nil {
		onLock()
	}
	if err != nil {
		return nil, err
	}
	return func() {
		_, err := s.Get(context.Background(), key)
		s.mu.Lock()
		s.unlocks++
		s.storedAt = append(s.storedAt, err == nil)
		s.mu.Unlock()
	}, nil
}

// counts returns the locks taken and released.
func (s *lockingStore) counts() (locks, unlocks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.locked), s.unlocks
}

var _ policycache.FetchLocker = (*lockingStore)(nil)

// A Cache that must fetch a new policy takes the fetch lock first, fetches,
// stores and only then unlocks, so that the next holder finds the policy
// in the Store. Its wait is bounded by half of Config.Timeout.
func TestFetchLockProtocol(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	ls := &lockingStore{MemoryStore: new(policycache.MemoryStore)}
	cfg := w.Config()
	cfg.Store = ls
	cfg.Timeout = time.Hour
	c := w.Cache(t, cfg)
	if res := lookup(t, c, "example.com"); res.Policy == nil || res.FromCache {
		t.Fatalf("Lookup = %+v, want a fetched policy", res)
	}
	if n := w.Host.Requests("example.com"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	ls.mu.Lock()
	locked, unlocks, storedAt, waitLeft := ls.locked, ls.unlocks, ls.storedAt, ls.waitLeft
	ls.mu.Unlock()
	if len(locked) != 1 || locked[0] != "example.com" || unlocks != 1 {
		t.Fatalf("locked %q, %d unlocks; want example.com once", locked, unlocks)
	}
	if !storedAt[0] {
		t.Error("the lock was released before the policy was stored")
	}
	if len(waitLeft) != 1 || waitLeft[0] > 30*time.Minute {
		t.Errorf("LockFetch could wait %v, want at most half of Config.Timeout (1 h)", waitLeft)
	}

	// A hit touches neither the Store nor the lock.
	lookup(t, c, "example.com")
	if locks, _ := ls.counts(); locks != 1 {
		t.Errorf("a Lookup hit took the lock")
	}
}

// While this MTA waits for the lock, another MTA sharing the Store fetches
// and stores the policy: once it holds the lock, the Cache reads the Store
// again and uses that policy instead of fetching.
func TestFetchLockReadsStoreAgain(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	shared := new(policycache.MemoryStore)
	cfg := w.Config()
	cfg.Store = shared
	other := w.Cache(t, cfg) // the other MTA, taking no lock
	ls := &lockingStore{MemoryStore: shared, onLock: func() { lookup(t, other, "example.com") }}
	cfg.Store = ls
	c := w.Cache(t, cfg)
	res := lookup(t, c, "example.com")
	if res.Policy == nil || res.ID != "1" || !res.FromCache {
		t.Fatalf("Lookup = %+v, want the stored policy of id 1", res)
	}
	if n := w.Host.Requests("example.com"); n != 1 {
		t.Errorf("%d fetches, want 1 (the other MTA's)", n)
	}
	if locks, unlocks := ls.counts(); locks != 1 || unlocks != 1 {
		t.Errorf("%d locks, %d unlocks; want 1, 1", locks, unlocks)
	}
}

// A LockFetch that fails (Redis down) or whose wait ran out does not stop
// delivery: the Cache logs it and fetches without the lock.
func TestFetchLockErrorFetches(t *testing.T) {
	for _, lockErr := range []error{errors.New("connection refused"), context.DeadlineExceeded} {
		t.Run(lockErr.Error(), func(t *testing.T) {
			w := newWorld(t)
			w.Publish("example.com", "1", enforcePolicy)
			ls := &lockingStore{MemoryStore: new(policycache.MemoryStore), err: lockErr}
			cfg := w.Config()
			cfg.Store = ls
			c := w.Cache(t, cfg)
			if res := lookup(t, c, "example.com"); res.Policy == nil || res.Err != nil {
				t.Fatalf("Lookup = %+v, want the fetched policy", res)
			}
			if n := w.Host.Requests("example.com"); n != 1 {
				t.Errorf("%d fetches, want 1", n)
			}
			if n := w.Logs.Count("fetch lock failed", "example.com", lockErr.Error()); n != 1 {
				t.Errorf("%d log lines about the lock, want 1:\n%s", n, w.Logs)
			}
			if _, err := ls.Get(ctx, "example.com"); err != nil {
				t.Errorf("the policy fetched without the lock was not stored: %v", err)
			}
		})
	}
}

// A background refresh takes the lock too, and uses the policy another
// MTA refreshed meanwhile: N MTAs refresh a policy once.
func TestFetchLockRefresh(t *testing.T) {
	w := newWorld(t)
	shared := new(policycache.MemoryStore)
	cfg := w.Config()
	cfg.Store = shared
	other := w.Cache(t, cfg)
	ls := &lockingStore{MemoryStore: shared}
	cfg.Store = ls
	c := publishAndCache(t, w, cfg) // fetch 1, under the lock
	lookup(t, other, "example.com") // from the Store
	w.Clock.Advance(24 * time.Hour) // both refreshes are due

	ls.mu.Lock()
	ls.onLock = other.Maintain // the other MTA refreshes first: fetch 2
	ls.mu.Unlock()
	c.Maintain()
	if n := w.Host.Requests("example.com"); n != 2 {
		t.Errorf("%d fetches, want 2 (the first, and one refresh for both MTAs)", n)
	}
	if locks, unlocks := ls.counts(); locks != 2 || unlocks != 2 {
		t.Errorf("%d locks, %d unlocks; want 2, 2 (the fetch and the refresh)", locks, unlocks)
	}
	res := lookup(t, c, "example.com")
	if want := w.Clock.Now().Add(7 * 24 * time.Hour); res.Policy == nil || !res.Expires.Equal(want) {
		t.Errorf("after the refresh: Expires %v, want %v (the other MTA's refresh)", res.Expires, want)
	}
}
