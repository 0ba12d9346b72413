package tlsrpt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileStore is a ResultStore in a directory, one file per UTC day named
// yyyy-mm-dd.jsonl. Each Add appends one line (a JSON object holding the
// deltas) and syncs the file before returning, so what a Collector has
// flushed survives a crash or restart; Results adds the lines up. A line
// cut short by a crash during Add is ignored and logged, and removed
// before the next Add. When a file has grown well past its summed size, an
// Add rewrites it as one line (written to a temporary file, synced, then
// renamed over the original).
//
// A FileStore is for the Collector of one process: several processes must
// not share a directory (use a database for a fleet; see ResultStore).
// The zero value is not usable; set Dir. A FileStore must not be copied
// after first use.
type FileStore struct {
	// Dir is the directory of the day files, created (mode 0700) on the
	// first Add.
	Dir string
	// Logger receives warnings about cut-short lines; nil means
	// slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	checked map[string]int64 // files whose tail was checked: size after the last compaction
}

// fileLine is one line of a day file.
type fileLine struct {
	Results []fileResult `json:"results"`
}

// fileResult is a PolicyResult in the store's own stable encoding.
type fileResult struct {
	Type      PolicyType   `json:"policy-type"`
	Domain    string       `json:"policy-domain"`
	String    []string     `json:"policy-string,omitempty"`
	MXHost    []string     `json:"mx-host,omitempty"`
	Successes int64        `json:"successes"`
	Failures  int64        `json:"failures"`
	Details   []fileDetail `json:"failure-details,omitempty"`
}

type fileDetail struct {
	ResultType            ResultType `json:"result-type"`
	SendingMTAIP          string     `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname   string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           string     `json:"receiving-ip,omitempty"`
	AdditionalInformation string     `json:"additional-information,omitempty"`
	FailureReasonCode     string     `json:"failure-reason-code,omitempty"`
	Sessions              int64      `json:"sessions"`
}

func toFile(r *PolicyResult) fileResult {
	f := fileResult{
		Type: r.Policy.Type, Domain: r.Policy.Domain, String: r.Policy.PolicyString, MXHost: r.Policy.MXHost,
		Successes: r.Summary.TotalSuccessfulSessionCount, Failures: r.Summary.TotalFailureSessionCount,
	}
	for _, d := range r.FailureDetails {
		f.Details = append(f.Details, fileDetail{
			ResultType:            d.ResultType,
			SendingMTAIP:          addrString(d.SendingMTAIP),
			ReceivingMXHostname:   d.ReceivingMXHostname,
			ReceivingMXHelo:       d.ReceivingMXHelo,
			ReceivingIP:           addrString(d.ReceivingIP),
			AdditionalInformation: d.AdditionalInformation,
			FailureReasonCode:     d.FailureReasonCode,
			Sessions:              d.FailedSessionCount,
		})
	}
	return f
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (f *fileResult) result() (PolicyResult, error) {
	r := PolicyResult{
		Policy:  AppliedPolicy{Type: f.Type, Domain: f.Domain, PolicyString: f.String, MXHost: f.MXHost},
		Summary: Summary{TotalSuccessfulSessionCount: f.Successes, TotalFailureSessionCount: f.Failures},
	}
	for _, d := range f.Details {
		fd := FailureDetail{
			ResultType:            d.ResultType,
			ReceivingMXHostname:   d.ReceivingMXHostname,
			ReceivingMXHelo:       d.ReceivingMXHelo,
			AdditionalInformation: d.AdditionalInformation,
			FailureReasonCode:     d.FailureReasonCode,
			FailedSessionCount:    d.Sessions,
		}
		var err error
		if d.SendingMTAIP != "" {
			if fd.SendingMTAIP, err = netip.ParseAddr(d.SendingMTAIP); err != nil {
				return r, err
			}
		}
		if d.ReceivingIP != "" {
			if fd.ReceivingIP, err = netip.ParseAddr(d.ReceivingIP); err != nil {
				return r, err
			}
		}
		r.FailureDetails = append(r.FailureDetails, fd)
	}
	return r, checkCounts(&r)
}

const fileSuffix = ".jsonl"

func (s *FileStore) path(day time.Time) string {
	return filepath.Join(s.Dir, dayStart(dayNumber(day)).Format(time.DateOnly)+fileSuffix)
}

func (s *FileStore) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Add appends results to the file of day and syncs it.
func (s *FileStore) Add(ctx context.Context, day time.Time, results []PolicyResult) error {
	if s.Dir == "" {
		return errors.New("tlsrpt: FileStore.Dir is empty")
	}
	if len(results) == 0 {
		return nil
	}
	line := fileLine{Results: make([]fileResult, len(results))}
	for i := range results {
		if err := checkCounts(&results[i]); err != nil {
			return err
		}
		line.Results[i] = toFile(&results[i])
	}
	b, err := json.Marshal(&line)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := ctx.Err(); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	name := s.path(day)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if s.checked == nil {
		s.checked = make(map[string]int64)
	}
	base, checked := s.checked[name]
	if !checked {
		if base, err = s.repair(f, name); err != nil {
			return err
		}
		s.checked[name] = base
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		// Cut off what may have been written, so that a retry of the
		// same results does not count them twice.
		if terr := f.Truncate(end); terr != nil {
			delete(s.checked, name)
		}
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if size := end + int64(len(b)); size > 2*base+compactMin {
		if err := s.compact(name, f); err != nil {
			s.logger().Warn("tlsrpt: could not compact a result file", "file", name, "err", err)
		}
	}
	return nil
}

// compactMin is the growth of a day file past twice its size after the
// last compaction that triggers the next one.
const compactMin = 1 << 20

// repair truncates a line cut short at the end of f and returns f's size.
func (s *FileStore) repair(f *os.File, name string) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return size, err
	}
	// Find the last newline, reading backwards in blocks.
	buf := make([]byte, 32<<10)
	keep := int64(0)
	for pos := size; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep = pos + int64(i) + 1
			break
		}
	}
	if keep == size {
		return size, nil
	}
	s.logger().Warn("tlsrpt: removing a result line cut short by a crash", "file", name, "bytes", size-keep)
	if err := f.Truncate(keep); err != nil {
		return 0, err
	}
	return keep, f.Sync()
}

// compact rewrites the file name, open as f, as one line of sums.
func (s *FileStore) compact(name string, f *os.File) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sum, err := s.read(f, name)
	if err != nil {
		return err
	}
	results := sum.results()
	line := fileLine{Results: make([]fileResult, len(results))}
	for i := range results {
		line.Results[i] = toFile(&results[i])
	}
	b, err := json.Marshal(&line)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(s.Dir, ".compact-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	s.checked[name] = int64(len(b))
	return syncDir(s.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// read adds up the lines of a day file. A last line without its newline
// was cut short by a crash: it is ignored and logged. Any other line that
// does not decode is an error.
func (s *FileStore) read(r io.Reader, name string) (*aggregate, error) {
	sum := new(aggregate)
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 {
				s.logger().Warn("tlsrpt: ignoring a result line cut short by a crash", "file", name, "line", n, "bytes", len(b))
			}
			return sum, nil
		}
		if err != nil {
			return nil, err
		}
		var line fileLine
		if err := json.Unmarshal(b, &line); err != nil {
			return nil, fmt.Errorf("tlsrpt: result file %s line %d: %w", name, n, err)
		}
		for i := range line.Results {
			r, err := line.Results[i].result()
			if err != nil {
				return nil, fmt.Errorf("tlsrpt: result file %s line %d: %w", name, n, err)
			}
			sum.add(&r)
		}
	}
}

// Results returns the sums of the lines in the file of day.
func (s *FileStore) Results(ctx context.Context, day time.Time) ([]PolicyResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.path(day)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum, err := s.read(f, name)
	if err != nil {
		return nil, err
	}
	return sum.results(), nil
}

// Days returns the days that have a file, oldest first.
func (s *FileStore) Days(ctx context.Context) ([]time.Time, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var days []time.Time
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), fileSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if t, err := time.Parse(time.DateOnly, base); err == nil {
			days = append(days, t)
		}
	}
	slices.SortFunc(days, time.Time.Compare)
	return days, nil
}

// Delete removes the file of day.
func (s *FileStore) Delete(ctx context.Context, day time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.path(day)
	delete(s.checked, name)
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
