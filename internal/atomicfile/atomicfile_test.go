package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	for _, v := range []string{"first", "second, longer"} {
		if err := Write(dir, "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := Read(filepath.Join(dir, "k"), 100)
		if err != nil || string(got) != v {
			t.Fatalf("Read = %q, %v; want %q", got, err, v)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory %v, %v", fi, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
	if _, err := Read(filepath.Join(dir, "k"), 5); err == nil {
		t.Error("a file over the cap was read")
	}
	if _, err := Read(filepath.Join(dir, "none"), 5); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := Write(filepath.Join(dir, "k"), "x", nil); err == nil {
		t.Error("Write into a file, not a directory, succeeded")
	}
}

// TestRemove: a file is removed, and removing it again is not an error.
func TestRemove(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f")
	for range 2 {
		if err := Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after Remove: %v", err)
	}
}
