package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of store.put.
var (
	// errFull: the data directory holds -max-reports reports or
	// -max-bytes bytes; intake is refused (507) until retention prunes.
	errFull = errors.New("the report store is full")
	// errDuplicate: a report of the same content, or of the same
	// organization-name and report-id, is stored already.
	errDuplicate = errors.New("report already stored")
)

// fileSuffix ends the name of every stored report; tmpPrefix begins the
// name of a report being written.
const (
	fileSuffix = ".tlsrpt"
	tmpPrefix  = ".tmp-"
)

// store keeps reports as the raw bytes received, one file per report in
// a data directory: <sequence>-<sha256 of the bytes>.tlsrpt. A file is
// written to a temporary name, synced, renamed and the directory synced
// before put returns, so that a report put has acknowledged survives a
// crash. Reports are de-duplicated by content (the hash) and by
// organization-name and report-id. With dir "" nothing is written (the
// program summarising files without a data directory). It is safe for
// concurrent use.
type store struct {
	dir        string
	maxReports int
	maxBytes   int64
	dirSync    dirSyncer

	mu      sync.Mutex
	seq     uint64
	count   int   // stored and pending
	bytes   int64 // stored and pending
	hashes  map[[32]byte]uint64
	ids     map[[32]byte]uint64
	entries map[uint64]storedFile
}

// storedFile is what the store remembers of one stored report.
type storedFile struct {
	name        string
	size        int64
	hash, idKey [32]byte
	lastDay     string // the report's last UTC day, for retention
	// written, while the file is being written, is closed once it is on
	// disk or has failed; nil afterwards.
	written chan struct{}
}

func newStore(dir string, maxReports int, maxBytes int64) *store {
	return &store{
		dir: dir, maxReports: maxReports, maxBytes: maxBytes, dirSync: dirSyncer{dir: dir},
		hashes: map[[32]byte]uint64{}, ids: map[[32]byte]uint64{}, entries: map[uint64]storedFile{},
	}
}

// reportKey is the key of a report for de-duplication by id.
func reportKey(org, id string) [32]byte {
	return sha256.Sum256([]byte(org + "\x00" + id))
}

// storedName is the file name of a stored report.
func storedName(seq uint64, hash [32]byte) string {
	return fmt.Sprintf("%012d-%x%s", seq, hash, fileSuffix)
}

// parseStoredName returns the sequence number of a stored report's file
// name.
func parseStoredName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, fileSuffix)
	seqText, hashText, ok2 := strings.Cut(base, "-")
	if !ok || !ok2 || len(seqText) != 12 || len(hashText) != 64 {
		return 0, false
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	_, herr := hex.DecodeString(hashText)
	return seq, err == nil && herr == nil
}

// list returns the names of the stored reports in the order received,
// and removes the temporary files of writes a crash interrupted.
func (s *store) list() ([]string, error) {
	if s.dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		if _, ok := parseStoredName(name); ok && de.Type().IsRegular() {
			names = append(names, name)
		}
	}
	slices.Sort(names) // the fixed-width sequence number first
	return names, nil
}

// loaded records a report found in the data directory at start.
// duplicate reports whether it repeats one loaded before it (possible
// only when files were copied in by hand).
func (s *store) loaded(name string, size int64, org, id, lastDay string) (seq uint64, duplicate bool) {
	seq, _ = parseStoredName(name)
	var hash [32]byte
	hex.Decode(hash[:], []byte(name[13:13+64])) // checked by parseStoredName
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = max(s.seq, seq)
	k := reportKey(org, id)
	s.count++
	s.bytes += size
	s.entries[seq] = storedFile{name: name, size: size, hash: hash, idKey: k, lastDay: lastDay}
	_, dupHash := s.hashes[hash]
	_, dupID := s.ids[k]
	if dupHash || dupID {
		return seq, true
	}
	s.hashes[hash], s.ids[k] = seq, seq
	return seq, false
}

// loadedUnreadable counts a stored file that does not decode: it stays
// in the directory, for the operator, and counts against the limits.
func (s *store) loadedUnreadable(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.bytes += size
}

// put stores raw, the bytes of a report with the given organization-name,
// report-id and last UTC day, and returns its sequence number once the
// bytes are on disk, and the time they were stored. It returns
// errDuplicate or errFull without writing.
func (s *store) put(raw []byte, org, id, lastDay string, now time.Time) (uint64, time.Time, error) {
	hash := sha256.Sum256(raw)
	k := reportKey(org, id)
	for {
		s.mu.Lock()
		seq, dup := s.hashes[hash]
		if !dup {
			seq, dup = s.ids[k]
		}
		if !dup {
			break // with s.mu held
		}
		written := s.entries[seq].written
		s.mu.Unlock()
		if written == nil {
			return 0, time.Time{}, errDuplicate
		}
		// The same report is being written: it is acknowledged as a
		// duplicate only once it is on disk, and taken as new if its
		// write failed.
		<-written
	}
	size := int64(len(raw))
	if s.count+1 > s.maxReports || s.bytes+size > s.maxBytes {
		s.mu.Unlock()
		return 0, time.Time{}, errFull
	}
	s.seq++
	seq := s.seq
	name := storedName(seq, hash)
	// Reserve: a second copy arriving while this one is written is a
	// duplicate, and the limits count it.
	s.hashes[hash], s.ids[k] = seq, seq
	s.count++
	s.bytes += size
	written := make(chan struct{})
	defer close(written)
	s.entries[seq] = storedFile{name: name, size: size, hash: hash, idKey: k, lastDay: lastDay, written: written}
	s.mu.Unlock()

	err := s.write(name, raw)

	s.mu.Lock()
	if err != nil {
		delete(s.hashes, hash)
		delete(s.ids, k)
		delete(s.entries, seq)
		s.count--
		s.bytes -= size
		s.mu.Unlock()
		return 0, time.Time{}, err
	}
	e := s.entries[seq]
	e.written = nil
	s.entries[seq] = e
	s.mu.Unlock()
	if t := s.modTime(name); !t.IsZero() {
		now = t
	}
	return seq, now.UTC(), nil
}

// write writes data to dir/name atomically and durably: a temporary
// file, fsync, rename, fsync of the directory.
func (s *store) write(name string, data []byte) error {
	if s.dir == "" {
		return nil
	}
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return s.dirSync.sync()
}

// prune deletes the stored reports whose last day is before cutoff
// (yyyy-mm-dd) and returns how many it deleted.
func (s *store) prune(cutoff string) (int, error) {
	s.mu.Lock()
	var old []uint64
	for seq, e := range s.entries {
		if e.written == nil && e.lastDay < cutoff {
			old = append(old, seq)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, seq := range old {
		s.mu.Lock()
		e := s.entries[seq]
		s.mu.Unlock()
		if s.dir != "" {
			if err := os.Remove(filepath.Join(s.dir, e.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return n, err
			}
		}
		s.mu.Lock()
		delete(s.entries, seq)
		if s.hashes[e.hash] == seq {
			delete(s.hashes, e.hash)
		}
		if s.ids[e.idKey] == seq {
			delete(s.ids, e.idKey)
		}
		s.count--
		s.bytes -= e.size
		s.mu.Unlock()
		n++
	}
	if n > 0 && s.dir != "" {
		return n, s.dirSync.sync()
	}
	return n, nil
}

// usage returns the reports and bytes stored.
func (s *store) usage() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

// dirSyncer fsyncs a directory for concurrent writers, sharing one fsync
// among the writers that renamed a file before it started (group
// commit): sync returns once an fsync that began after the call has
// completed.
type dirSyncer struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // fsyncs begun
	done    uint64 // the last fsync completed
	running bool
	err     error // the first failure, for good: the store is broken
}

func (d *dirSyncer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cond == nil {
		d.cond = sync.NewCond(&d.mu)
	}
	want := d.started + 1
	for d.done < want && d.err == nil {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := syncDir(d.dir)
		d.mu.Lock()
		d.running = false
		d.done = n
		if err != nil && d.err == nil {
			d.err = err
		}
		d.cond.Broadcast()
	}
	return d.err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// modTime returns the modification time of a stored report, the time it
// was received.
func (s *store) modTime(name string) time.Time {
	if s.dir == "" {
		return time.Time{}
	}
	fi, err := os.Stat(filepath.Join(s.dir, name))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime().UTC()
}
