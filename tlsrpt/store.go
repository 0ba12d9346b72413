package tlsrpt

import (
	"context"
	"slices"
	"sync"
	"time"
)

// A ResultStore keeps the session counts of a Collector, summed per UTC
// day, policy and failure detail. A Collector's Flush hands it additive
// deltas; Collector.Reports reads the sums back.
//
// Because every Add is a delta, one store can serve a fleet of MTAs: each
// runs its own Collector, all Flush into the same database, and any one of
// them (or a separate reporting job with a Collector that records nothing)
// calls Reports. With SQL, for example, two tables do:
//
//	results(day, policy_key, policy_json, successes, failures)
//	details(day, policy_key, detail_key, detail_json, sessions)
//
// Add upserts one row per result and per failure detail in a transaction,
//
//	INSERT INTO results VALUES ($1, $2, $3, $4, $5)
//	ON CONFLICT (day, policy_key) DO UPDATE
//	SET successes = results.successes + excluded.successes,
//	    failures  = results.failures  + excluded.failures
//
// and Results selects a day's rows. The keys are any canonical encoding of
// the Policy and of the FailureDetail with FailedSessionCount zero (their
// JSON does: the Collector hands over host names already lower-cased,
// without a trailing dot). Days and Delete map to SELECT DISTINCT day and
// DELETE ... WHERE day = $1.
//
// A Flush whose reply is lost after the database committed would add its
// deltas a second time when retried; a store that is also a BatchStore
// (an id checked in the same transaction) makes retries harmless.
//
// Days are 00:00:00 UTC of the day. Implementations must be safe for
// concurrent use.
type ResultStore interface {
	// Add adds the counts of results to those stored for day: summaries
	// are added per policy, failed-session-counts per policy and failure
	// detail. It stores all of results or, with an error, none of them:
	// the Collector offers them again in its next Flush.
	Add(ctx context.Context, day time.Time, results []PolicyResult) error
	// Results returns the sums stored for day, at most one PolicyResult
	// per policy; none is not an error.
	Results(ctx context.Context, day time.Time) ([]PolicyResult, error)
	// Days returns the days that have results, oldest first.
	Days(ctx context.Context) ([]time.Time, error)
	// Delete removes the results of day, typically once its reports have
	// been delivered.
	Delete(ctx context.Context, day time.Time) error
}

// MemoryStore is a ResultStore in memory, for a single process that can
// lose a day's counts on restart, and for tests. The zero value is an
// empty store ready to use.
type MemoryStore struct {
	mu   sync.Mutex
	days map[int64]*aggregate
}

// Add adds results to the sums of day. Negative counts are an error.
func (s *MemoryStore) Add(ctx context.Context, day time.Time, results []PolicyResult) error {
	for i := range results {
		if err := checkCounts(&results[i]); err != nil {
			return err
		}
	}
	if len(results) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.days == nil {
		s.days = make(map[int64]*aggregate)
	}
	d := dayNumber(day)
	a := s.days[d]
	if a == nil {
		a = new(aggregate)
		s.days[d] = a
	}
	for i := range results {
		a.add(&results[i])
	}
	return nil
}

// Results returns the sums of day.
func (s *MemoryStore) Results(ctx context.Context, day time.Time) ([]PolicyResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.days[dayNumber(day)]
	if a == nil {
		return nil, nil
	}
	return a.results(), nil
}

// Days returns the days with results, oldest first.
func (s *MemoryStore) Days(ctx context.Context) ([]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	days := make([]time.Time, 0, len(s.days))
	for d := range s.days {
		days = append(days, dayStart(d))
	}
	slices.SortFunc(days, time.Time.Compare)
	return days, nil
}

// Delete removes the results of day.
func (s *MemoryStore) Delete(ctx context.Context, day time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.days, dayNumber(day))
	return nil
}
