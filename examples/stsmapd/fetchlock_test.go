package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
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
