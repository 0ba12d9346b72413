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
