// Package atomicfile writes files so that a crash or a kill at any moment
// leaves either the old contents or the new ones, never a mixture, and
// durably before returning; and reads them back with a size cap. It is the
// one way the module's directory stores (policycache.DirStore,
// tlsrpt.DirOutbox) write.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// TempPrefix starts the names of the temporary files Write makes; a
// store whose names never start with it can tell them apart, and a
// temporary file left by a crash may be deleted at any time.
const TempPrefix = ".tmp-"

// Write replaces the file name in dir with data: it writes a temporary
// file in dir, flushes it to disk (fsync), renames it over name and
// flushes dir, which it creates (mode 0700) when missing. File systems
// that cannot flush a directory are not an error: the rename is atomic
// either way.
func Write(dir, name string, data []byte) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The temporary name holds no part of name, so that a name of up to
	// NAME_MAX (255) bytes can be written.
	tmp, err := os.CreateTemp(dir, TempPrefix+"*")
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
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// Read returns the contents of the file path, which must be at most max
// bytes long. A missing file is an error matching fs.ErrNotExist.
func Read(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// syncDir flushes a directory, making a rename in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// Remove deletes the file path; a file that does not exist is not an
// error, so that deleting twice, or after a crash, is harmless.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
