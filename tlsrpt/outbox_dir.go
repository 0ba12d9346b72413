package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/smtpsec/smtpsec/internal/atomicfile"
)

// ErrNotInOutbox is returned by OutboxStore.Get for a key that has no
// value.
var ErrNotInOutbox = errors.New("tlsrpt: no such outbox entry")

// An OutboxStore keeps the values of an Outbox by key, like
// autocert.Cache: a report's gzip body (written once), its delivery state
// (a small JSON document rewritten after every attempt) and a marker per
// UTC day whose reports are enqueued. Keys are 1 to 64 bytes of lower-case
// ASCII letters, digits and '-'.
//
// DirOutbox keeps them in files; an implementation on a database keeps
// them in a table with a key column. Implementations must be safe for
// concurrent use.
type OutboxStore interface {
	// Get returns the value of key, or ErrNotInOutbox.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value under key, replacing any value: atomically, so
	// that a crash leaves the old value or the new one, and durably
	// before it returns, so that what the Outbox recorded (above all, a
	// delivery) survives a crash.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key; a key without a value is not an error.
	Delete(ctx context.Context, key string) error
	// Keys returns the keys that begin with prefix, in any order.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// maxOutboxValue bounds what DirOutbox.Get reads from one file: a report
// body is at most DefaultMaxCompressedSize bytes when a Decoder is to read
// it, so a larger file is not one an Outbox wrote.
const maxOutboxValue = DefaultMaxCompressedSize

// DirOutbox is an OutboxStore keeping one file per key in a directory,
// created (mode 0700) on the first Put. The file names are the keys.
//
// Every Put writes a temporary file in the directory, flushes it to disk
// (fsync), renames it over the old file and flushes the directory, so a
// crash or a kill -9 at any moment leaves either the old value or the new
// one. Temporary files left by a crash start with ".tmp-"; Keys never
// lists them, and they may be deleted at any time. The Outbox checks the
// SHA-256 of every body it reads.
//
// A directory serves one Outbox in one process (see Outbox).
type DirOutbox string

// Get returns the contents of the file named key.
func (d DirOutbox) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := d.path(key)
	if err != nil {
		return nil, err
	}
	data, err := atomicfile.Read(name, maxOutboxValue)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotInOutbox
	}
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: outbox: %w", err)
	}
	return data, nil
}

// Put atomically and durably replaces the file named key with value.
func (d DirOutbox) Put(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validOutboxKey(key) {
		return fmt.Errorf("tlsrpt: invalid outbox key %q", key)
	}
	return atomicfile.Write(string(d), key, value)
}

// Delete removes the file named key.
func (d DirOutbox) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := d.path(key)
	if err != nil {
		return err
	}
	return atomicfile.Remove(name)
}

// Keys lists the files whose names are keys beginning with prefix. A
// directory not made yet has none.
func (d DirOutbox) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, prefix) && validOutboxKey(n) {
			keys = append(keys, n)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func (d DirOutbox) path(key string) (string, error) {
	if !validOutboxKey(key) {
		return "", fmt.Errorf("tlsrpt: invalid outbox key %q", key)
	}
	return filepath.Join(string(d), key), nil
}

// validOutboxKey reports whether key is 1 to 64 lower-case ASCII letters,
// digits and '-': a file name on every file system, also one that ignores
// case.
func validOutboxKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
