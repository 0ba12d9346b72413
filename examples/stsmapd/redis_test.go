package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/mtasts"
)

// storeErrors returns the daemon's stsmapd_store_errors_total.
func storeErrors(t testing.TB, dm *daemon) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^stsmapd_store_errors_total (\d+)$`).FindStringSubmatch(metricsText(dm))
	if m == nil {
		t.Fatal("no stsmapd_store_errors_total in the metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestRedisStoreShared: two daemons on one Redis store; the second
// answers a domain the first fetched with no fetch at the policy host,
// and the entry in Redis has redisstore's key and expires with the
// policy.
func TestRedisStoreShared(t *testing.T) {
	s := redistest.Start(t)
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.Store = "redis://" + s.Addr + "/1?prefix=fleet:"
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	first := startDaemon(t, cfg, w.deps())
	if got := dial(t, first).ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("first daemon: %q", got)
	}
	wantMetrics(t, first, "stsmapd_fetches_total 1", "stsmapd_store_errors_total 0")

	second := startDaemon(t, cfg, w.deps())
	if got := dial(t, second).ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("second daemon: %q", got)
	}
	wantMetrics(t, second, "stsmapd_fetches_total 0", "stsmapd_store_errors_total 0")

	opts, _ := redisresp.ParseURL("redis://" + s.Addr + "/1")
	c := redisresp.NewClient(opts)
	defer c.Close()
	r, err := c.Do(context.Background(), "PTTL", "fleet:policy:"+enforceDomain)
	if err != nil {
		t.Fatal(err)
	}
	if week := (7 * 24 * time.Hour).Milliseconds(); r.Int < week-60000 || r.Int > 2*week {
		t.Errorf("PTTL %d ms, want about the policy's max_age (%d ms) plus the cache's grace", r.Int, week)
	}
}

// TestRedisStoreDown: with Redis stopped, lookups are answered from the
// network and then from memory; the failures are counted, not answered.
func TestRedisStoreDown(t *testing.T) {
	s := redistest.Start(t)
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.Store = "redis://" + s.Addr
	dm := startDaemon(t, cfg, w.deps())
	cl := dial(t, dm)
	if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("with Redis up: %q", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	w.publish(t, changeDomain, mtasts.ModeEnforce, "new.change.test")
	for range 2 {
		if got := cl.ask("postfix " + changeDomain); got != "OK secure match=new.change.test servername=hostname" {
			t.Errorf("new domain with Redis down: %q", got)
		}
		if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
			t.Errorf("cached domain with Redis down: %q", got)
		}
	}
	if n := storeErrors(t, dm); n < 2 { // the read and the write of the new domain
		t.Errorf("stsmapd_store_errors_total %d, want at least 2", n)
	}
	wantMetrics(t, dm, "stsmapd_fetches_total 2")
}

// TestRedisStoreSetting: the store setting's Redis forms, the prefix, and
// a password that never reaches a log line or an error.
func TestRedisStoreSetting(t *testing.T) {
	sk, err := parseStore("redis://:hunter2@127.0.0.1:6380/4?prefix=mta:")
	if err != nil {
		t.Fatal(err)
	}
	if sk.redis == nil || sk.redis.Addr != "127.0.0.1:6380" || sk.redis.Password != "hunter2" || sk.redis.DB != 4 || sk.prefix != "mta:" {
		t.Errorf("%+v %+v", sk, sk.redis)
	}
	if sk, err := parseStore("unix:///run/redis.sock?db=2&prefix=a:"); err != nil || sk.redis.Network != "unix" || sk.redis.DB != 2 || sk.prefix != "a:" {
		t.Errorf("unix: %+v, %v", sk, err)
	}
	if got := redactStore("redis://:hunter2@127.0.0.1:6380/4?prefix=mta:"); strings.Contains(got, "hunter2") {
		t.Errorf("redacted: %s", got)
	}
	for _, bad := range []string{"redis://:hunter2@h/x", "redis://:hunter2@h/1?tls=1", "rediss://:hunter2@", "unix://:hunter2@h/p"} {
		if _, err := parseStore(bad); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
