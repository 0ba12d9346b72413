package policycache_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/policycache"
)

// DirStore.Keys returns the keys Put wrote, whatever their bytes, and
// skips temporary and foreign files; a missing directory has no keys.
func TestDirStoreKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := policycache.DirStore(dir)
	if keys, err := s.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of a missing directory = %v, %v", keys, err)
	}
	want := []string{"example.com", "xn--bcher-kva.example", ".leading-dot", "UPPER", "a/b", "100%", "x y\n"}
	for _, k := range want {
		if err := s.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{".tmp-example.com-123", "%zz", "%4", "%61bc", "Upper"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "subdir"), 0o700)
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("Keys = %q, want %q", keys, want)
	}
	for _, k := range keys {
		if _, err := s.Get(ctx, k); err != nil {
			t.Errorf("Get(%q) of a listed key: %v", k, err)
		}
	}
}

func TestMemoryStoreKeys(t *testing.T) {
	var s policycache.MemoryStore
	if keys, err := s.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of an empty store = %v, %v", keys, err)
	}
	s.Put(ctx, "b.example", []byte("1"))
	s.Put(ctx, "a.example", []byte("2"))
	s.Delete(ctx, "b.example")
	if keys, err := s.Keys(ctx); err != nil || !slices.Equal(keys, []string{"a.example"}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Keys(cancelled); err == nil {
		t.Error("Keys with a cancelled context succeeded")
	}
}

// signalHandler is a slog.Handler that also closes a channel when a
// record with a given message is logged.
type signalHandler struct {
	slog.Handler
	msg  string
	done chan struct{}
}

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message == h.msg {
		close(h.done)
	}
	return err
}

// threeMethods hides every method of a Store but the three of Store.
type threeMethods struct{ policycache.Store }

// A Cache started on a listing Store reads the stored policies and
// refreshes them when due, before any Lookup; a Store without Keys is read
// only when a Lookup needs it.
func TestStartReadsStoredPolicies(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	store := policycache.DirStore(t.TempDir())
	cfg := w.Config()
	cfg.Store = store
	first := w.Cache(t, cfg)
	lookup(t, first, "example.com")
	first.Close()

	w.Clock.Advance(25 * time.Hour) // past the refresh time of the stored policy
	for _, tt := range []struct {
		name    string
		store   policycache.Store
		fetches int
	}{
		{"three methods", threeMethods{store}, 1},
		{"StoreLister", store, 2},
	} {
		h := &signalHandler{Handler: cfg.Logger.Handler(), msg: "read the stored MTA-STS policies", done: make(chan struct{})}
		c2 := cfg
		c2.Store = tt.store
		c2.Logger = slog.New(h)
		c := w.Cache(t, c2)
		if tt.fetches == 2 {
			<-h.done
			if n := c.Len(); n != 1 {
				t.Fatalf("%s: %d domains in memory after start, want 1", tt.name, n)
			}
		}
		c.Maintain()
		if n := w.Host.Requests("example.com"); n != tt.fetches {
			t.Errorf("%s: %d fetches after start and a refresh pass, want %d", tt.name, n, tt.fetches)
		}
		c.Close()
	}
	if n := w.Logs.Count("read the stored MTA-STS policies", "keys=1", "policies=1"); n != 1 {
		t.Errorf("%d start-up log lines, want 1:\n%s", n, w.Logs)
	}
}

// expiringStore records the ttl of each PutExpiring.
type expiringStore struct {
	policycache.MemoryStore
	ttls []time.Duration
}

func (s *expiringStore) PutExpiring(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	s.ttls = append(s.ttls, ttl)
	return s.Put(ctx, key, data)
}

// An ExpiringStore is given the policy's remaining max_age plus one hour.
func TestExpiringStoreTTL(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy) // max_age 604800
	store := new(expiringStore)
	cfg := w.Config()
	cfg.Store = store
	lookup(t, w.Cache(t, cfg), "example.com")
	if want := 604800*time.Second + time.Hour; len(store.ttls) != 1 || store.ttls[0] != want {
		t.Errorf("PutExpiring ttls %v, want [%v]", store.ttls, want)
	}
}

// Keys lists what a Store holds; a Cache given a StoreLister reads it all
// when it starts.
func ExampleMemoryStore_Keys() {
	var s policycache.MemoryStore
	s.Put(context.Background(), "example.com", []byte("an entry"))
	keys, _ := s.Keys(context.Background())
	fmt.Println(strings.Join(keys, " "))
	var _ policycache.StoreLister = &s
	// Output: example.com
}

// DirStore lists the keys of its files, unescaped.
func ExampleDirStore_Keys() {
	dir, err := os.MkdirTemp("", "policycache")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s := policycache.DirStore(dir)
	s.Put(context.Background(), "xn--bcher-kva.example", []byte("an entry"))
	keys, _ := s.Keys(context.Background())
	fmt.Println(keys)
	// Output: [xn--bcher-kva.example]
}
