package policycache_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/smtpsec/smtpsec/policycache"
)

// sharedStore is a Store with a FetchLocker, as two MTAs sharing a
// database would have it; here both live in one process, and a lock per
// key is a channel closed on unlock. A shared service must also let the
// lock expire, for holders that crash (see redisstore.PolicyStore).
type sharedStore struct {
	*policycache.MemoryStore
	mu    sync.Mutex
	locks map[string]chan struct{}
}

func (s *sharedStore) LockFetch(ctx context.Context, key string) (func(), error) {
	for {
		s.mu.Lock()
		held, ok := s.locks[key]
		if !ok {
			released := make(chan struct{})
			s.locks[key] = released
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.locks, key)
				s.mu.Unlock()
				close(released)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Two MTAs whose Store is a FetchLocker meet example.com at the same
// instant: one fetches its policy, the other waits for the lock and finds
// the policy in the Store.
func ExampleFetchLocker() {
	internet := startInternet()
	defer internet.Stop()
	store := &sharedStore{MemoryStore: new(policycache.MemoryStore), locks: map[string]chan struct{}{}}

	start := make(chan struct{})
	var wg sync.WaitGroup
	modes := make([]string, 2)
	for i := range modes {
		cache, err := policycache.New(policycache.Config{
			Resolver:   &policycache.DNSResolver{Servers: []string{internet.DNS.Addr}},
			HTTPClient: internet.Host.Client(),
			Store:      store,
			Logger:     discardLogger(),
		})
		if err != nil {
			log.Fatal(err)
		}
		defer cache.Close()
		wg.Go(func() {
			<-start
			res, err := cache.Lookup(context.Background(), "example.com")
			if err != nil {
				log.Fatal(err)
			}
			modes[i] = string(res.Policy.Mode)
		})
	}
	close(start)
	wg.Wait()
	fmt.Println("modes:", modes)
	fmt.Println("fetches:", internet.Host.Requests("example.com"))
	// Output:
	// modes: [enforce enforce]
	// fetches: 1
}
