package policycache_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Both stores follow the same contract.
func TestStores(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store policycache.Store
	}{
		{"MemoryStore", new(policycache.MemoryStore)},
		{"DirStore", policycache.DirStore(filepath.Join(t.TempDir(), "new", "dir"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.store
			if _, err := s.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
				t.Fatalf("Get of a missing key: err = %v, want ErrCacheMiss", err)
			}
			if err := s.Delete(ctx, "example.com"); err != nil {
				t.Fatalf("Delete of a missing key: %v", err)
			}
			data := []byte("first")
			if err := s.Put(ctx, "example.com", data); err != nil {
				t.Fatal(err)
			}
			data[0] = 'X' // the store keeps its own copy
			if got, err := s.Get(ctx, "example.com"); err != nil || string(got) != "first" {
				t.Fatalf("Get = %q, %v; want first", got, err)
			}
			if err := s.Put(ctx, "example.com", []byte("second")); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "example.com")
			if err != nil || string(got) != "second" {
				t.Fatalf("Get after replace = %q, %v", got, err)
			}
			got[0] = 'X' // nor does it share what Get returns
			if got, _ := s.Get(ctx, "example.com"); string(got) != "second" {
				t.Fatalf("Get returned shared memory: %q", got)
			}
			// Keys that differ only in case, or contain path syntax, are
			// distinct and harmless.
			keys := []string{"Example.com", "../escape", ".hidden", "a/b", "a%2Fb", "ä"}
			for i, k := range keys {
				if err := s.Put(ctx, k, []byte{byte('0' + i)}); err != nil {
					t.Fatalf("Put(%q): %v", k, err)
				}
			}
			for i, k := range keys {
				if got, err := s.Get(ctx, k); err != nil || !bytes.Equal(got, []byte{byte('0' + i)}) {
					t.Errorf("Get(%q) = %q, %v", k, got, err)
				}
			}
			if err := s.Delete(ctx, "example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
				t.Fatalf("Get after Delete: err = %v", err)
			}

			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Get(cancelled, "Example.com"); err == nil {
				t.Error("Get with a cancelled context succeeded")
			}
		})
	}
}

func TestDirStoreFiles(t *testing.T) {
	dir := t.TempDir()
	s := policycache.DirStore(dir)
	for _, k := range []string{"example.com", "../escape", "Up"} {
		if err := s.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	want := []string{"%2E.%2Fescape", "%55p", "example.com"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %q, want %q (and no temporary files left)", got, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a key escaped the directory")
	}
	if err := s.Put(ctx, "", []byte("x")); err == nil {
		t.Error("empty key accepted")
	}
}

func TestDirStoreConcurrentPuts(t *testing.T) {
	s := policycache.DirStore(t.TempDir())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			v := bytes.Repeat([]byte{byte('a' + i)}, 4096)
			if err := s.Put(ctx, "example.com", v); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.Get(ctx, "example.com")
	if err != nil || len(got) != 4096 || !bytes.Equal(got, bytes.Repeat(got[:1], 4096)) {
		t.Errorf("after concurrent Puts: %d bytes, %v; want one whole value", len(got), err)
	}
}

// A process killed while writing leaves a partial temporary file, or (on a
// file system without atomic rename, or after disk damage) a truncated
// entry. Neither loses a valid policy nor crashes a Cache started later:
// the truncated entry is logged and fetched again.
func TestDirStoreSurvivesKillMidWrite(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	w.Publish("example.net", "5", testingPolicy)
	cfg := w.Config()
	cfg.Store = policycache.DirStore(dir)

	first := w.Cache(t, cfg)
	lookup(t, first, "example.com")
	lookup(t, first, "example.net")
	first.Close()

	good, err := os.ReadFile(filepath.Join(dir, "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// A write of a new example.com entry killed half-way: the temporary
	// file holds half of it; the real file is untouched.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-example.com-123456"), good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// A truncated example.net entry.
	netEntry, err := os.ReadFile(filepath.Join(dir, "example.net"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.net"), netEntry[:len(netEntry)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	// Policy hosts are down now: only what the store holds can be used.
	w.Host.Set("example.com", site{Status: 500})
	w.Host.Set("example.net", site{Status: 500})

	second := w.Cache(t, cfg)
	check(t, "example.com from the store", lookup(t, second, "example.com"),
		summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	check(t, "example.net, truncated entry", lookup(t, second, "example.net"),
		summary{FromCache: true, Type: tlsrpt.PolicySTS, Failure: tlsrpt.ResultSTSPolicyFetchError, HasErr: true})
	if n := w.Logs.Count("level=WARN", "corrupt", "domain=example.net"); n != 1 {
		t.Errorf("%d warnings about the corrupt entry, want 1:\n%s", n, w.Logs)
	}

	// Once the host is back the truncated entry is replaced by a good one.
	w.Host.Serve("example.net", testingPolicy)
	w.Clock.Advance(6 * time.Minute)
	check(t, "example.net fetched again", lookup(t, second, "example.net"),
		summary{Mode: mtasts.ModeTesting, ID: "5", Fresh: true, Type: tlsrpt.PolicySTS})
	if data, err := os.ReadFile(filepath.Join(dir, "example.net")); err != nil || !bytes.Equal(data[len(data)-20:], netEntry[len(netEntry)-20:]) {
		t.Errorf("example.net entry not rewritten whole (err %v)", err)
	}
}

// After a restart a cache applies the policies its store holds, even when
// nothing can be fetched and the TXT record is gone (fail-closed, §3.3).
func TestRestartUsesStore(t *testing.T) {
	w := newWorld(t)
	w.Publish("example.com", "1", enforcePolicy)
	cfg := w.Config()
	cfg.Store = policycache.DirStore(t.TempDir())
	first := w.Cache(t, cfg)
	lookup(t, first, "example.com")
	first.Close()

	w.Host.Set("example.com", site{Unreachable: true})
	w.DNS.Remove("_mta-sts.example.com")
	w.Clock.Advance(24 * time.Hour)
	second := w.Cache(t, cfg)
	res := lookup(t, second, "example.com")
	check(t, "after restart", res, summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Type: tlsrpt.PolicySTS, HasErr: true})
	if want := w.Clock.Now().Add(6 * 24 * time.Hour); !res.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v (max_age counted from the original fetch)", res.Expires, want)
	}

	// Past its max_age the stored policy is not used.
	w.Clock.Advance(6 * 24 * time.Hour)
	third := w.Cache(t, cfg)
	check(t, "stored policy expired", lookup(t, third, "example.com"), summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound})
}

// MTAs sharing a Store fetch each new policy once: the first fetches, the
// others find it in the store.
func TestSharedStore(t *testing.T) {
	w := newWorld(t)
	cfg := w.Config()
	cfg.Store = new(policycache.MemoryStore)
	a := publishAndCache(t, w, cfg)
	b := w.Cache(t, cfg)
	check(t, "b at start", lookup(t, b, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})

	w.Publish("example.com", "2", enforceNewMX)
	w.Clock.Advance(301 * time.Second)
	check(t, "a, new id", lookup(t, a, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "2", Fresh: true, Type: tlsrpt.PolicySTS})
	check(t, "b, new id", lookup(t, b, "example.com"), summary{Mode: mtasts.ModeEnforce, ID: "2", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	if n := w.Host.Requests("example.com"); n != 2 {
		t.Errorf("%d fetches for two MTAs and two ids, want 2", n)
	}
}
