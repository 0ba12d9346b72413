package policycache

import (
	"github.com/smtpsec/smtpsec/internal/atomicfile"

	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxStoredValue bounds what DirStore.Get reads from one file: far more
// than a cache entry needs (a policy is at most 64 KiB), so a larger file is
// not one the Cache wrote.
const maxStoredValue = 1 << 20

// tempPrefix starts the names of files being written. No key maps to such a
// name, because escapeKey escapes a leading dot. The rest of a temporary
// name is random digits (os.CreateTemp), so that it stays short whatever
// the key: a key of 253 bytes (the longest domain name) has a file name of
// 253 bytes, and its temporary file one of at most 15, both within the
// NAME_MAX of 255 bytes of common file systems.
const tempPrefix = atomicfile.TempPrefix

// staleTempAge is how old a temporary file must be before a new Cache
// removes it as left behind by a crash. A Put holds its temporary file for
// the time of one write and two fsyncs; an hour-old one belongs to no Put
// that can still succeed, even in another process sharing the directory.
const staleTempAge = time.Hour

// DirStore is a Store keeping one file per key in a directory, for a cache
// that survives restarts. The directory is created (mode 0700) on the
// first Put.
//
// Every Put writes a temporary file in the same directory, flushes it to
// disk (fsync), renames it over the old file and flushes the directory, so
// a crash or a kill at any moment leaves either the old value or the new
// one, never a mixture. Temporary files left behind by a crash have names
// starting with ".tmp-"; Get never reads them, and New removes those older
// than an hour from the directory of a DirStore it is given. A file damaged in some other way is detected by the Cache's
// checksum and treated as a miss.
//
// Keys are used as file names, with every byte other than a lower-case
// letter, a digit, '-', '_' or a non-leading '.' written as %XX, so any key
// is safe and distinct keys never share a file, even on case-insensitive
// file systems. DirStore is safe for concurrent use, also by several
// processes sharing the directory.
type DirStore string

// Get returns the contents of the file for key, or ErrCacheMiss when there
// is none.
func (d DirStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := d.path(key)
	if err != nil {
		return nil, err
	}
	data, err := atomicfile.Read(name, maxStoredValue)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("policycache: %w", err)
	}
	return data, nil
}

// Put atomically replaces the file for key with data.
func (d DirStore) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := d.path(key)
	if err != nil {
		return err
	}
	return atomicfile.Write(string(d), filepath.Base(name), data)
}

// Delete removes the file for key.
func (d DirStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := d.path(key)
	if err != nil {
		return err
	}
	return atomicfile.Remove(name)
}

// removeStale removes the temporary files of Puts that a crash or a kill
// interrupted: regular files whose names start with tempPrefix (no key's
// file does) last modified staleTempAge or more before now. It returns how
// many it removed; a directory that does not exist yet holds none.
func (d DirStore) removeStale(now time.Time) (int, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), tempPrefix) || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil || now.Sub(info.ModTime()) < staleTempAge {
			continue // gone meanwhile, or perhaps still being written
		}
		if err := os.Remove(filepath.Join(string(d), de.Name())); err == nil {
			removed++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
	}
	return removed, nil
}

// path is the name of the file holding key.
func (d DirStore) path(key string) (string, error) {
	if key == "" {
		return "", errors.New("policycache: empty store key")
	}
	return filepath.Join(string(d), escapeKey(key)), nil
}

// escapeKey turns key into a file name made of lower-case letters, digits,
// '-', '_', '.' (never first) and %XX escapes for everything else.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// openStore prepares the Store for use by c: in a DirStore, temporary files
// left behind by a crash are removed (by the file system's clock, not
// Config.Now: file times are real times).
func (c *Cache) openStore() {
	var d DirStore
	switch s := c.store.(type) {
	case DirStore:
		d = s
	case *DirStore:
		d = *s
	default:
		return
	}
	n, err := d.removeStale(time.Now())
	if n > 0 {
		c.log.Info("removed temporary files left by an interrupted write", "dir", string(d), "files", n)
	}
	if err != nil {
		c.log.Warn("cleaning temporary files of a DirStore failed", "dir", string(d), "err", err)
	}
}
