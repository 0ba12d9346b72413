package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/redisstore"
)

// TestPolicyStoreCompat: the core module's internal Redis store (used by
// stsmapd) and PolicyStore read each other's entries, list each other's
// keys and keep each other's expiry, on one Redis and prefix.
func TestPolicyStoreCompat(t *testing.T) {
	ctx := context.Background()
	rc := client(t, shared.Addr)
	p := prefix(t)
	ours := redisstore.NewPolicyStore(rc, p)
	opts, err := redisresp.ParseURL("redis://" + shared.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ic := redisresp.NewClient(opts)
	defer ic.Close()
	internal := redisresp.NewPolicyStore(ic, p)

	const ttl = 90 * time.Minute
	if err := ours.PutExpiring(ctx, "a.example", []byte("entry a\r\n"), ttl); err != nil {
		t.Fatal(err)
	}
	if err := internal.PutExpiring(ctx, "b.example", []byte("entry b\x00"), ttl); err != nil {
		t.Fatal(err)
	}
	if err := internal.Put(ctx, "c.example", []byte("entry c")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		store interface {
			Get(context.Context, string) ([]byte, error)
		}
		key, want string
	}{
		{"internal reads redisstore's", internal, "a.example", "entry a\r\n"},
		{"redisstore reads internal's", ours, "b.example", "entry b\x00"},
		{"redisstore reads internal's without expiry", ours, "c.example", "entry c"},
	} {
		got, err := tt.store.Get(ctx, tt.key)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for key, want := range map[string]time.Duration{"a.example": ttl, "b.example": ttl, "c.example": -1} {
		got, err := rc.PTTL(ctx, p+"policy:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want < 0 && got >= 0 || want > 0 && (got <= want-time.Minute || got > want) {
			t.Errorf("PTTL of %s: %v, want %v", key, got, want)
		}
	}
	for name, l := range map[string]interface {
		Keys(context.Context) ([]string, error)
	}{"internal": internal, "redisstore": ours} {
		keys, err := l.Keys(ctx)
		slices.Sort(keys)
		if err != nil || !slices.Equal(keys, []string{"a.example", "b.example", "c.example"}) {
			t.Errorf("%s Keys: %q, %v", name, keys, err)
		}
	}
	if err := internal.Delete(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := ours.Get(ctx, "a.example"); err == nil {
		t.Error("redisstore still reads the entry internal deleted")
	}
}

// TestFetchLockCompat: the fetch lock of the core module's internal
// Redis store (stsmapd's) and PolicyStore.LockFetch are one lock per key
// on one Redis and prefix: a lock held through either blocks the other,
// a waiter of either gets it once the holder unlocks, and neither
// releases the other's lock (redistest.CheckFetchLock, each side holding
// in turn).
func TestFetchLockCompat(t *testing.T) {
	redistest.CheckFetchLock(t, shared, prefix(t), redistest.RespLocker(t, shared), lockerOn(client(t, shared.Addr)))
}
