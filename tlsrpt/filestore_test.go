package tlsrpt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newFileStore(t *testing.T) (*FileStore, *syncBuffer) {
	log, logged := quietLogger()
	return &FileStore{Dir: filepath.Join(t.TempDir(), "results"), Logger: log}, logged
}

func TestFileStore(t *testing.T) {
	s, _ := newFileStore(t)
	testResultStore(t, s)
}

func TestFileStoreNoDir(t *testing.T) {
	var s FileStore
	if err := s.Add(context.Background(), day1, []PolicyResult{{Policy: stsPolicy("example.com")}}); err == nil {
		t.Error("Add without Dir succeeded")
	}
}

// TestFileStoreRestart: a Collector flushing into a FileStore loses nothing
// flushed when the process restarts mid-day.
func TestFileStoreRestart(t *testing.T) {
	ctx := context.Background()
	s, _ := newFileStore(t)
	clock := newTestClock(day1.Add(9 * time.Hour))
	c := newTestCollector(clock)
	c.Store = s
	pc := c.Counter(stsPolicy("example.com"))
	pc.Success()
	pc.Success()
	pc.Failure(expiredAt("198.51.100.7"))
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pc.Success() // not flushed: lost with the process

	// The restarted process.
	s2 := &FileStore{Dir: s.Dir, Logger: s.Logger}
	clock.Set(day1.Add(15 * time.Hour))
	c2 := newTestCollector(clock)
	c2.Store = s2
	c2.Counter(stsPolicy("example.com")).Success()
	clock.Set(day2)
	reps, err := c2.Reports(ctx, day1)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Policies[0].Summary != (Summary{3, 1}) || reps[0].Policies[0].FailureDetails[0].FailedSessionCount != 1 {
		t.Errorf("after restart: %+v", reps)
	}
}

func TestFileStoreTornLine(t *testing.T) {
	ctx := context.Background()
	s, logged := newFileStore(t)
	r := PolicyResult{Policy: stsPolicy("example.com"), Summary: Summary{5, 0}}
	if err := s.Add(ctx, day1, []PolicyResult{r}); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the next Add leaves a cut-short line.
	name := filepath.Join(s.Dir, "2024-09-03.jsonl")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"results":[{"policy-type":"sts","policy-domain":"exam`)
	f.Close()

	s2 := &FileStore{Dir: s.Dir, Logger: s.Logger}
	rs, err := s2.Results(ctx, day1)
	if err != nil || len(rs) != 1 || rs[0].Summary != (Summary{5, 0}) {
		t.Fatalf("with a torn line: %+v, %v", rs, err)
	}
	if !strings.Contains(logged.String(), "ignoring a result line cut short") {
		t.Errorf("torn line not logged: %q", logged)
	}
	// The next Add removes the torn line before appending.
	if err := s2.Add(ctx, day1, []PolicyResult{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "removing a result line cut short") {
		t.Errorf("repair not logged: %q", logged)
	}
	data, _ := os.ReadFile(name)
	if n := bytes.Count(data, []byte("\n")); n != 2 || !bytes.HasSuffix(data, []byte("}\n")) {
		t.Errorf("file after repair has %d lines:\n%s", n, data)
	}
	rs, err = s2.Results(ctx, day1)
	if err != nil || len(rs) != 1 || rs[0].Summary != (Summary{10, 0}) {
		t.Errorf("after repair: %+v, %v", rs, err)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	ctx := context.Background()
	for name, content := range map[string]string{
		"not JSON":         "garbage\n{\"results\":[]}\n",
		"bad address":      `{"results":[{"policy-type":"sts","policy-domain":"a","successes":1,"failures":1,"failure-details":[{"result-type":"x","receiving-ip":"999.1.1.1","sessions":1}]}]}` + "\n",
		"negative count":   `{"results":[{"policy-type":"sts","policy-domain":"a","successes":-1,"failures":0}]}` + "\n",
		"wrong value type": `{"results":[{"policy-type":"sts","policy-domain":"a","successes":"1","failures":0}]}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newFileStore(t)
			if err := os.MkdirAll(s.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.Dir, "2024-09-03.jsonl"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Results(ctx, day1)
			if err == nil || !strings.Contains(err.Error(), "2024-09-03.jsonl line 1") {
				t.Errorf("Results = %v, want an error naming the file and line 1", err)
			}
		})
	}
}

func TestFileStoreDays(t *testing.T) {
	ctx := context.Background()
	s, _ := newFileStore(t)
	if err := s.Add(ctx, day2, []PolicyResult{{Policy: stsPolicy("example.com"), Summary: Summary{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notes.txt", ".compact-123", "2024-13-01.jsonl", "2024-09-01.json"} {
		os.WriteFile(filepath.Join(s.Dir, name), nil, 0o600)
	}
	os.Mkdir(filepath.Join(s.Dir, "2024-09-01.jsonl"), 0o700)
	days, err := s.Days(ctx)
	if err != nil || len(days) != 1 || !days[0].Equal(day2) {
		t.Errorf("Days = %v, %v; want [%v]", days, err, day2)
	}
}

// TestFileStoreCompaction: a file that has grown well past its sums is
// rewritten as one line with the same sums.
func TestFileStoreCompaction(t *testing.T) {
	ctx := context.Background()
	s, _ := newFileStore(t)
	// Each Add writes about 64 KiB; 40 of them pass the 1 MiB threshold.
	batch := make([]PolicyResult, 100)
	for i := range batch {
		p := stsPolicy(fmt.Sprintf("d%03d.example", i))
		p.PolicyString = append(p.PolicyString, strings.Repeat("x", 500))
		batch[i] = PolicyResult{Policy: p, Summary: Summary{1, 1}, FailureDetails: []FailureDetail{expiredAt("198.51.100.7")}}
		batch[i].FailureDetails[0].FailedSessionCount = 1
	}
	const adds = 40
	for range adds {
		if err := s.Add(ctx, day1, batch); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, "2024-09-03.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n >= adds {
		t.Errorf("file has %d lines after %d adds: never compacted", n, adds)
	}
	rs, err := s.Results(ctx, day1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(batch) {
		t.Fatalf("%d policies, want %d", len(rs), len(batch))
	}
	for _, r := range rs {
		if r.Summary != (Summary{adds, adds}) || r.FailureDetails[0].FailedSessionCount != adds {
			t.Fatalf("%s: %+v, want %d of each", r.Policy.Domain, r, adds)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, ".compact-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
