package policycache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxStoredValue bounds what DirStore.Get reads from one file: far more
// than a cache entry needs (a policy is at most 64 KiB), so a larger file is
// not one the Cache wrote.
const maxStoredValue = 1 << 20

// tempPrefix starts the names of files being written. No key maps to such a
// name, because escapeKey escapes a leading dot.
const tempPrefix = ".tmp-"

// DirStore is a Store keeping one file per key in a directory, for a cache
// that survives restarts. The directory is created (mode 0700) on the
// first Put.
//
// Every Put writes a temporary file in the same directory, flushes it to
// disk (fsync), renames it over the old file and flushes the directory, so
// a crash or a kill at any moment leaves either the old value or the new
// one, never a mixture. Temporary files left behind by a crash have names
// starting with ".tmp-"; Get never reads them and they may be deleted at
// any time. A file damaged in some other way is detected by the Cache's
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
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStoredValue+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStoredValue {
		return nil, fmt.Errorf("policycache: %s is larger than %d bytes", name, maxStoredValue)
	}
	return data, nil
}

// Put atomically replaces the file for key with data.
func (d DirStore) Put(ctx context.Context, key string, data []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := d.path(key)
	if err != nil {
		return err
	}
	dir := string(d)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	syncDir(dir)
	return nil
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
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
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

// syncDir flushes a directory, making a rename inside it durable. It is
// best effort: some platforms and file systems cannot sync a directory,
// and the rename is atomic either way.
func syncDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	f.Sync()
	f.Close()
}
