package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Every MTA of the fleet gives its Cache a PolicyStore on the same Redis
// and prefix; the Cache reads and writes it, and a hit stays in memory.
func ExampleNewPolicyStore() {
	rc := redis.NewClient(&redis.Options{Addr: shared.Addr}) // your Redis
	defer rc.Close()
	store := redisstore.NewPolicyStore(rc, "example-policies:")
	cfg := policycache.Config{Store: store} // plus Resolver, HTTPClient, ...
	_ = cfg

	ctx := context.Background()
	store.PutExpiring(ctx, "example.com", []byte("an entry the Cache wrote"), time.Hour)
	data, _ := store.Get(ctx, "example.com")
	keys, _ := store.Keys(ctx)
	fmt.Printf("%s %v\n", data, keys)
	// Output: an entry the Cache wrote [example.com]
}

// Two MTAs count into one ResultStore; a Flush is idempotent, and the
// reports hold the fleet's sums.
func ExampleNewResultStore() {
	rc := redis.NewClient(&redis.Options{Addr: shared.Addr})
	defer rc.Close()
	store := redisstore.NewResultStore(rc, "example-results:", 0, nil)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	policy := tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"}
	ctx := context.Background()
	for _, sessions := range []int{3, 4} { // two MTAs
		mta := &tlsrpt.Collector{Store: store, Now: func() time.Time { return day.Add(12 * time.Hour) }}
		for range sessions {
			mta.Counter(policy).Success()
		}
		if err := mta.Flush(ctx); err != nil {
			log.Fatal(err)
		}
	}
	results, _ := store.Results(ctx, day)
	fmt.Println(results[0].Policy.Domain, results[0].Summary.TotalSuccessfulSessionCount)
	store.Delete(ctx, day) // once the day's reports are delivered
	// Output: example.com 7
}

// Each MTA asks its DayLeader before the daily job; one leads.
func ExampleNewDayLeader() {
	rc := redis.NewClient(&redis.Options{Addr: shared.Addr})
	defer rc.Close()
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	mta1, _ := redisstore.NewDayLeader(rc, "example-leader:", 10*time.Minute)
	mta2, _ := redisstore.NewDayLeader(rc, "example-leader:", 10*time.Minute)
	ok1, _ := mta1.Lead(ctx, day)
	ok2, _ := mta2.Lead(ctx, day)
	fmt.Println("mta1 leads:", ok1, "mta2 leads:", ok2)
	mta1.Done(ctx, day) // after enqueueing the reports
	ok2, _ = mta2.Lead(ctx, day)
	fmt.Println("mta2 leads after Done:", ok2)
	// Output:
	// mta1 leads: true mta2 leads: false
	// mta2 leads after Done: false
}

// The Cache takes a domain's fetch lock before it fetches a policy that
// is not in the Store; another MTA asking meanwhile waits (here: gives up
// when its ctx ends). The lock expires after FetchLease if its holder
// crashes.
func ExamplePolicyStore_LockFetch() {
	rc := redis.NewClient(&redis.Options{Addr: shared.Addr})
	defer rc.Close()
	mta1 := redisstore.NewPolicyStore(rc, "example-lock:")
	mta2 := redisstore.NewPolicyStore(rc, "example-lock:")
	mta1.FetchLease = 30 * time.Second // at least the Caches' Config.Timeout

	ctx := context.Background()
	unlock, err := mta1.LockFetch(ctx, "example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held:", rc.Exists(ctx, "example-lock:lock:example.com").Val() == 1)
	wait, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = mta2.LockFetch(wait, "example.com")
	fmt.Println("mta2 gave up waiting:", errors.Is(err, context.DeadlineExceeded))
	unlock() // after storing the fetched policy
	fmt.Println("held after unlock:", rc.Exists(ctx, "example-lock:lock:example.com").Val() == 1)
	// Output:
	// held: true
	// mta2 gave up waiting: true
	// held after unlock: false
}
