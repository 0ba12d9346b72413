package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/policycache"
)

// TestRedisFetchLock: two daemons on one Redis store, each with many
// concurrent requests for a domain neither has seen, all sent behind one
// channel close: the policy host serves exactly one fetch. Within a
// daemon the Cache shares one discovery per domain; across the two, the
// fetch lock in Redis (the redisstore module's lock) makes the second
// wait, read the Store again and use the first's policy.
func TestRedisFetchLock(t *testing.T) {
	const (
		domain   = "lock.test"
		want     = "OK secure match=mx1." + domain + " servername=hostname"
		requests = 24 // per daemon, each on its own connection
	)
	s := redistest.Start(t)
	w := newTestWorldWith(t, []string{domain})
	cfg := testConfig()
	cfg.Store = "redis://" + s.Addr + "/2?prefix=fleet:"
	var atHost atomic.Int64 // HTTPS requests the policy host got from both daemons
	d := w.deps()
	counted := *d.httpClient
	counted.Transport = countingTransport{d.httpClient.Transport, &atHost}
	d.httpClient = &counted
	daemons := []*daemon{startDaemon(t, cfg, d), startDaemon(t, cfg, d)}

	var clients []*client
	for _, dm := range daemons {
		for range requests {
			clients = append(clients, dial(t, dm))
		}
	}
	start := make(chan struct{})
	replies := make(chan error, len(clients))
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			<-start
			if _, err := io.WriteString(cl.c, netstring("postfix "+domain)); err != nil {
				replies <- err
				return
			}
			got, err := readReply(cl.br)
			if err == nil && got != want {
				err = fmt.Errorf("reply %q, want %q", got, want)
			}
			replies <- err
		})
	}
	close(start)
	wg.Wait()
	close(replies)
	for err := range replies {
		if err != nil {
			t.Error(err)
		}
	}
	if n := atHost.Load(); n != 1 {
		t.Errorf("the policy host served %d fetches, want 1 for the fleet", n)
	}
	for i, dm := range daemons {
		if n := storeErrors(t, dm); n != 0 {
			t.Errorf("daemon %d: stsmapd_store_errors_total %d", i, n)
		}
	}

	// The lock is released: nothing is left under fleet:lock:.
	opts, err := redisresp.ParseURL("redis://" + s.Addr + "/2")
	if err != nil {
		t.Fatal(err)
	}
	c := redisresp.NewClient(opts)
	defer c.Close()
	r, err := c.Do(context.Background(), "EXISTS", "fleet:lock:"+domain)
	if err != nil || r.Int != 0 {
		t.Errorf("EXISTS fleet:lock:%s = %+v, %v; want 0 (unlocked)", domain, r, err)
	}
}

// TestCountingStoreLockFetch: the Redis store's LockFetch counts a Redis
// failure in stsmapd_store_errors_total, not a wait that ended with its
// ctx while another process held the lock.
func TestCountingStoreLockFetch(t *testing.T) {
	s := redistest.Start(t)
	sk, err := parseStore("redis://" + s.Addr + "?prefix=fleet:")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	st, c, err := openStore(sk, time.Minute, &n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fl, ok := st.(policycache.FetchLocker)
	if !ok {
		t.Fatalf("the Redis store %T is not a policycache.FetchLocker", st)
	}
	ctx := context.Background()
	unlock, err := fl.LockFetch(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := fl.LockFetch(short, "example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFetch of a held lock = %v, want the end of its ctx", err)
	}
	if n.Load() != 0 {
		t.Errorf("a wait for another's lock counted as %d store errors", n.Load())
	}
	unlock()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.LockFetch(ctx, "example.com"); err == nil {
		t.Fatal("LockFetch with Redis down succeeded")
	}
	if n.Load() != 1 {
		t.Errorf("LockFetch with Redis down counted %d store errors, want 1", n.Load())
	}
}
