package policycache_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// longDomain is a valid domain name of 253 bytes, the most DNS allows:
// three labels of 63 bytes, one of 56 and "test".
var longDomain = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 56) + ".test"

// A DirStore keeps the policy of a domain of 253 bytes, whose file name is
// as long as the domain: its temporary file name must not be longer.
func TestDirStoreLongDomain(t *testing.T) {
	if len(longDomain) != 253 {
		t.Fatalf("test domain has %d bytes", len(longDomain))
	}
	if _, err := mtasts.NormalizeDomain(longDomain); err != nil {
		t.Fatalf("test domain invalid: %v", err)
	}
	dir := t.TempDir()
	s := policycache.DirStore(dir)
	if err := s.Put(ctx, longDomain, []byte("x")); err != nil {
		t.Fatalf("Put of a 253-byte key: %v", err)
	}
	if got, err := s.Get(ctx, longDomain); err != nil || string(got) != "x" {
		t.Fatalf("Get = %q, %v", got, err)
	}

	// A policy domain this long cannot publish a policy: its _mta-sts
	// name would be longer than DNS allows. No query, no warning.
	w := newWorld(t)
	c := w.Cache(t, w.Config())
	check(t, "253-byte domain", lookup(t, c, longDomain), summary{FromCache: true, Fresh: true, Type: tlsrpt.PolicyNotFound})
	if n := w.DNS.Queries("_mta-sts." + longDomain); n != 0 || w.Logs.Count("level=WARN") != 0 {
		t.Errorf("%d queries, warnings:\n%s", n, w.Logs)
	}

	// Through a Cache, with the longest policy domain that can publish a
	// policy (244 bytes: _mta-sts.<domain> must fit in 253): fetched,
	// stored, and applied from the store after a restart with the policy
	// host gone.
	longDomain := longDomain[253-244:]
	w = newWorld(t)
	w.Publish(longDomain, "1", enforcePolicy)
	cfg := w.Config()
	cfg.Store = policycache.DirStore(t.TempDir())
	first := w.Cache(t, cfg)
	check(t, "first", lookup(t, first, longDomain), summary{Mode: mtasts.ModeEnforce, ID: "1", Fresh: true, Type: tlsrpt.PolicySTS})
	first.Close()
	if w.Logs.Count("level=WARN") != 0 {
		t.Errorf("warnings:\n%s", w.Logs)
	}
	w.Host.Set(longDomain, site{Unreachable: true})
	second := w.Cache(t, cfg)
	check(t, "after restart", lookup(t, second, longDomain), summary{Mode: mtasts.ModeEnforce, ID: "1", FromCache: true, Fresh: true, Type: tlsrpt.PolicySTS})
	if n := w.Host.Requests(longDomain); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// New removes the temporary files of writes that a crash interrupted,
// once they are an hour old, and nothing else.
func TestDirStoreRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	files := map[string]time.Time{
		".tmp-123456":           old,         // left by a crash
		".tmp-example.com-4242": old,         // older versions' naming
		".tmp-987654":           time.Time{}, // being written right now
		"example.com":           old,         // an entry: kept however old
		".hidden":               old,         // not a temporary file
		"%2Etmp-escaped.key":    old,         // the file of key ".tmp-escaped.key"
	}
	for name, mtime := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !mtime.IsZero() {
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	cfg := w.Config()
	cfg.Store = policycache.DirStore(dir)
	w.Cache(t, cfg)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{"%2Etmp-escaped.key", ".hidden", ".tmp-987654", ".tmp-dir", "example.com"}
	if !slices.Equal(got, want) {
		t.Errorf("files after New: %q\nwant %q", got, want)
	}
	if n := w.Logs.Count("level=INFO", "files=2"); n != 1 {
		t.Errorf("%d log lines about 2 removed files:\n%s", n, w.Logs)
	}
}
