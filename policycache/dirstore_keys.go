package policycache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
)

// Keys returns the keys of the files in the directory. Files that no Put
// could have written (temporary files, names that are not escaped keys)
// are skipped; a directory that does not exist yet holds no keys.
func (d DirStore) Keys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		if key, ok := unescapeKey(name); ok {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// unescapeKey is the inverse of escapeKey. It reports false for a name
// that escapeKey does not produce.
func unescapeKey(name string) (string, bool) {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(name) {
			return "", false
		}
		hi, ok1 := upperHexDigit(name[i+1])
		lo, ok2 := upperHexDigit(name[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	key := b.String()
	if key == "" || escapeKey(key) != name {
		return "", false
	}
	return key, true
}

// upperHexDigit is the value of an upper-case hexadecimal digit, as
// escapeKey writes them.
func upperHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
