package tlsrpt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memoryBatchStore is a BatchStore on a MemoryStore: it adds a batch id
// once. Its first lose AddBatch calls add the batch but lose the
// acknowledgement; fail makes AddBatch fail without adding.
type memoryBatchStore struct {
	MemoryStore
	mu    sync.Mutex
	seen  map[string]bool
	ids   []string
	lose  int
	fail  bool
	added chan struct{} // receives once per batch added, if not nil
	tried chan struct{} // receives once per call, while it has room, if not nil
}

var errAckLost = errors.New("reply lost")

func (s *memoryBatchStore) AddBatch(ctx context.Context, id string, day time.Time, rs []PolicyResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, id)
	if s.tried != nil {
		select {
		case s.tried <- struct{}{}:
		default:
		}
	}
	if s.fail {
		return errors.New("database unavailable")
	}
	if !s.seen[id] {
		if s.seen == nil {
			s.seen = make(map[string]bool)
		}
		s.seen[id] = true
		if err := s.MemoryStore.Add(ctx, day, rs); err != nil {
			return err
		}
		if s.added != nil {
			s.added <- struct{}{}
		}
	}
	if s.lose > 0 {
		s.lose--
		return errAckLost
	}
	return nil
}

// A batch whose acknowledgement was lost is offered again, unchanged and
// under the same id, before anything recorded since; the store counts it
// once.
func TestFlushRetriesTheSameBatch(t *testing.T) {
	clock := newTestClock(day1)
	store := &memoryBatchStore{lose: 2}
	c := newTestCollector(clock)
	c.Store = store
	pc := c.Counter(stsPolicy("example.com"))
	pc.Success()
	pc.Failure(expiredAt("198.51.100.7"))
	for range 2 {
		if err := c.Flush(context.Background()); !errors.Is(err, errAckLost) {
			t.Fatalf("Flush: %v, want the lost acknowledgement", err)
		}
		pc.Success() // recorded while the batch is pending
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.ids) != 4 || store.ids[0] != store.ids[1] || store.ids[1] != store.ids[2] || store.ids[3] == store.ids[0] {
		t.Fatalf("batch ids %v, want one id three times, then a new one", store.ids)
	}
	rs, _ := store.Results(context.Background(), day1)
	if len(rs) != 1 || rs[0].Summary != (Summary{3, 1}) || rs[0].FailureDetails[0].FailedSessionCount != 1 {
		t.Errorf("stored %+v, want 3 successes and 1 failure", rs)
	}
}

// FlushEvery retries a failing Store with back-off until it works and
// flushes once more when its context ends; nothing recorded is lost.
func TestFlushEvery(t *testing.T) {
	clock := newTestClock(day1)
	store := &memoryBatchStore{fail: true, added: make(chan struct{}, 10), tried: make(chan struct{}, 3)}
	c := newTestCollector(clock)
	c.Store = store
	pc := c.Counter(stsPolicy("example.com"))
	for range 5 {
		pc.Success()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.FlushEvery(ctx, time.Millisecond) }()
	for range 3 {
		<-store.tried
	}
	store.mu.Lock()
	store.fail = false
	store.mu.Unlock()
	<-store.added // the retried batch went through
	pc.Success()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rs, _ := store.Results(context.Background(), day1)
	if len(rs) != 1 || rs[0].Summary.TotalSuccessfulSessionCount != 6 {
		t.Errorf("stored %+v, want 6 successes", rs)
	}
	if !store.seenOnce() {
		t.Errorf("a failing batch was dropped: ids %v", store.ids)
	}
}

// seenOnce reports whether every failed attempt before the first success
// carried the id that then succeeded.
func (s *memoryBatchStore) seenOnce() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.ids[0]
	for _, id := range s.ids[:3] {
		if id != first {
			return false
		}
	}
	return s.seen[first]
}

func TestFolded(t *testing.T) {
	d := expiredAt("198.51.100.7")
	d.FailedSessionCount = 4
	f := d.Folded()
	if f.FailureReasonCode != ReasonDetailLimit || f.ReceivingMXHostname != "" || f.FailedSessionCount != 0 || f.ResultType != d.ResultType {
		t.Errorf("Folded = %+v", f)
	}
	if f.Folded() != f {
		t.Errorf("a folded detail folds into %+v", f.Folded())
	}
	if g := (FailureDetail{ResultType: "x-private"}).Folded(); g.ResultType != ResultValidationFailure {
		t.Errorf("unregistered type folds to %q", g.ResultType)
	}
}
