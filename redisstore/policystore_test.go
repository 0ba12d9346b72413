package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/redisstore"
)

func redisstorePolicyStore(t testing.TB, pfx string) *redisstore.PolicyStore {
	return redisstore.NewPolicyStore(client(t, shared.Addr), pfx)
}

// The PolicyStore keeps bytes under the prefix, expires them when asked,
// lists them, and refuses oversized values.
func TestPolicyStore(t *testing.T) {
	ctx := context.Background()
	base := prefix(t)
	pfx := base + "[x]*"
	rc := client(t, shared.Addr)
	s := redisstore.NewPolicyStore(rc, pfx)
	if _, err := s.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if err := s.Put(ctx, "example.com", []byte("entry one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutExpiring(ctx, "example.net", []byte("entry two"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "example.com"); err != nil || string(got) != "entry one" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if ttl := rc.PTTL(ctx, pfx+"policy:example.net").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("PTTL of an expiring entry = %v, want up to an hour", ttl)
	}
	if ttl := rc.PTTL(ctx, pfx+"policy:example.com").Val(); ttl != -1 {
		t.Errorf("PTTL of a plain entry = %v, want none (-1)", ttl)
	}
	rc.Set(ctx, base+"other:example.org", "x", 0)    // same start, not under the prefix
	rc.Set(ctx, base+"x*policy:example.org", "x", 0) // matches the prefix as an unescaped glob
	rc.Set(ctx, pfx+"tlsrpt:days", "x", 0)           // the prefix, not a policy
	keys, err := s.Keys(ctx)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"example.com", "example.net"}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if err := s.PutExpiring(ctx, "example.net", []byte("expired"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "example.net"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Errorf("Get of an entry stored with no time left: %v", err)
	}
	if err := s.Delete(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Fatalf("Get after Delete: %v", err)
	}
	big := strings.Repeat("x", 1<<20+1)
	if err := s.Put(ctx, "big.example", []byte(big)); err == nil {
		t.Error("Put of more than 1 MiB accepted")
	}
	rc.Set(ctx, pfx+"policy:big.example", big, 0)
	if _, err := s.Get(ctx, "big.example"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Get of more than 1 MiB: %v", err)
	}
}

// A Cache on a PolicyStore stores each policy to expire with it: max_age
// plus the cache's grace.
func TestCacheStoresWithExpiry(t *testing.T) {
	w := newFleetWorld(t, time.Now())
	pfx := prefix(t)
	rc := client(t, shared.Addr)
	c := w.cache(t, redisstore.NewPolicyStore(rc, pfx), w.Clock.Now, discard())
	if _, err := c.Lookup(context.Background(), "example.com"); err != nil {
		t.Fatal(err)
	}
	ttl := rc.PTTL(context.Background(), pfx+"policy:example.com").Val()
	if maxAge := 604800 * time.Second; ttl <= maxAge || ttl > maxAge+time.Hour {
		t.Errorf("stored policy expires in %v, want max_age (%v) plus up to an hour", ttl, maxAge)
	}
}
