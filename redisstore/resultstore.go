package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// batchIDRetention is how long the batch ids of a deleted day are kept.
const batchIDRetention = 8 * 24 * time.Hour

// maxStoredPolicies bounds the policies ResultStore.Results reads for one
// day.
const maxStoredPolicies = 1 << 20

// ResultStore is a tlsrpt.ResultStore in Redis for a fleet of MTAs: each
// runs its own tlsrpt.Collector, all flush into one ResultStore, and the
// day's reports (see DayLeader) carry the fleet's sums.
//
// It is a tlsrpt.BatchStore: a Flush adds each day's counts with one Lua
// script, one round trip, that records the batch id and increments the
// counts server-side in one atomic step, or does nothing when the id was
// recorded before. A Flush retried after a time-out or a lost connection,
// which the Collector does with the same batch and id until acknowledged,
// therefore never counts a session twice. The same script caps the
// distinct failure details of each policy and day fleet-wide, folding the
// excess as the Collector does (tlsrpt.FailureDetail.Folded).
//
// Keys, under the prefix, for a UTC day D (yyyy-mm-dd), a policy's JSON
// J (tlsrpt.AppliedPolicy with encoding/json) and P, the SHA-1 of J in
// hex (a name, not a security measure):
//
//	tlsrpt:days              set of the days with results
//	tlsrpt:D:counts          hash "s"+J → successful sessions, "f"+J → failed
//	tlsrpt:D:details:P       hash a failure detail's JSON → failed sessions
//	tlsrpt:D:batches         set of the batch ids added
//
// so that a Flush costs the server one HINCRBY per count and detail.
//
// A ResultStore is safe for concurrent use. Create it with NewResultStore.
type ResultStore struct {
	client     redis.UniversalClient
	prefix     string
	maxDetails int
	log        *slog.Logger
}

// NewResultStore returns a ResultStore on client whose keys start with
// prefix. maxFailureDetails bounds the distinct failure details kept per
// policy and day across the fleet (zero means
// tlsrpt.DefaultMaxFailureDetails); give the Collectors the same
// MaxFailureDetails. Folded details are logged to logger (nil means
// slog.Default()).
func NewResultStore(client redis.UniversalClient, prefix string, maxFailureDetails int, logger *slog.Logger) *ResultStore {
	if maxFailureDetails <= 0 {
		maxFailureDetails = tlsrpt.DefaultMaxFailureDetails
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &ResultStore{client: client, prefix: prefix, maxDetails: maxFailureDetails, log: logger}
}

// dayKeys are the keys of one day's results.
type dayKeys struct {
	day                      string
	days, batches, counts, d string
}

func (s *ResultStore) keys(day time.Time) dayKeys {
	d := day.UTC().Format(time.DateOnly)
	p := s.prefix + "tlsrpt:" + d + ":"
	return dayKeys{
		day: d, days: s.prefix + "tlsrpt:days",
		batches: p + "batches", counts: p + "counts", d: p + "details:",
	}
}

// Add adds results to the sums of day.
func (s *ResultStore) Add(ctx context.Context, day time.Time, results []tlsrpt.PolicyResult) error {
	return s.add(ctx, "", day, results)
}

// AddBatch adds results to the sums of day unless the batch id was added
// before; see tlsrpt.BatchStore.
func (s *ResultStore) AddBatch(ctx context.Context, id string, day time.Time, results []tlsrpt.PolicyResult) error {
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
	}) {
		return fmt.Errorf("redisstore: invalid batch id %q", id)
	}
	return s.add(ctx, id, day, results)
}

func (s *ResultStore) add(ctx context.Context, id string, day time.Time, results []tlsrpt.PolicyResult) error {
	if len(results) == 0 {
		return nil
	}
	k := s.keys(day)
	args := make([]any, 0, 5+6*len(results))
	args = append(args, id, k.day, s.maxDetails, k.d, len(results))
	for i := range results {
		r := &results[i]
		if r.Summary.TotalSuccessfulSessionCount < 0 || r.Summary.TotalFailureSessionCount < 0 {
			return fmt.Errorf("redisstore: negative session count for policy domain %q", r.Policy.Domain)
		}
		pj, err := json.Marshal(r.Policy)
		if err != nil {
			return fmt.Errorf("redisstore: encoding a policy: %w", err)
		}
		args = append(args, pj, policyID(pj), r.Summary.TotalSuccessfulSessionCount,
			r.Summary.TotalFailureSessionCount, len(r.FailureDetails))
		for _, d := range r.FailureDetails {
			n := d.FailedSessionCount
			if n < 0 {
				return fmt.Errorf("redisstore: negative failed-session-count for policy domain %q", r.Policy.Domain)
			}
			d.FailedSessionCount = 0
			dj, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("redisstore: encoding a failure detail: %w", err)
			}
			var fj []byte
			if f := d.Folded(); f != d {
				if fj, err = json.Marshal(f); err != nil {
					return fmt.Errorf("redisstore: encoding a failure detail: %w", err)
				}
			}
			args = append(args, dj, fj, n)
		}
	}
	res, err := addScript.Run(ctx, s.client, []string{k.batches, k.days, k.counts}, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("redisstore: adding the results of %s: %w", k.day, err)
	}
	if len(res) == 2 && res[1] > 0 {
		s.log.Warn("redisstore: too many distinct failure details for the fleet; folding further ones",
			"day", k.day, "limit", s.maxDetails, "sessions", res[1])
	}
	return nil
}

// policyID names the details hash of a policy: the SHA-1 of its JSON in
// hex, which the delete script computes too (redis.sha1hex).
func policyID(policyJSON []byte) string {
	sum := sha1.Sum(policyJSON)
	return hex.EncodeToString(sum[:])
}

// Results returns the sums stored for day, in two round trips.
func (s *ResultStore) Results(ctx context.Context, day time.Time) ([]tlsrpt.PolicyResult, error) {
	k := s.keys(day)
	counts, err := s.client.HGetAll(ctx, k.counts).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading the results of %s: %w", k.day, err)
	}
	if len(counts) > 2*maxStoredPolicies {
		return nil, fmt.Errorf("redisstore: %d counts stored for %s, more than %d", len(counts), k.day, 2*maxStoredPolicies)
	}
	byPolicy := make(map[string]*tlsrpt.PolicyResult, len(counts))
	for field, v := range counts {
		if len(field) < 2 || field[0] != 's' && field[0] != 'f' {
			return nil, fmt.Errorf("redisstore: stored count %q of %s", field[:min(len(field), 40)], k.day)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("redisstore: stored count %q of %s", v, k.day)
		}
		pj := field[1:]
		r := byPolicy[pj]
		if r == nil {
			r = new(tlsrpt.PolicyResult)
			if err := json.Unmarshal([]byte(pj), &r.Policy); err != nil {
				return nil, fmt.Errorf("redisstore: stored policy of %s: %w", k.day, err)
			}
			byPolicy[pj] = r
		}
		if field[0] == 's' {
			r.Summary.TotalSuccessfulSessionCount = n
		} else {
			r.Summary.TotalFailureSessionCount = n
		}
	}
	keys := make([]string, 0, len(byPolicy))
	for pj, r := range byPolicy {
		if r.Summary.TotalFailureSessionCount > 0 {
			keys = append(keys, pj)
		}
	}
	slices.Sort(keys)
	details := make([]*redis.MapStringStringCmd, len(keys))
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pj := range keys {
			details[i] = p.HGetAll(ctx, k.d+policyID([]byte(pj)))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: reading the failure details of %s: %w", k.day, err)
	}
	for i, pj := range keys {
		r := byPolicy[pj]
		for dj, n := range details[i].Val() {
			var d tlsrpt.FailureDetail
			if err := json.Unmarshal([]byte(dj), &d); err != nil {
				return nil, fmt.Errorf("redisstore: stored failure detail of %s: %w", k.day, err)
			}
			if d.FailedSessionCount, err = strconv.ParseInt(n, 10, 64); err != nil || d.FailedSessionCount < 0 {
				return nil, fmt.Errorf("redisstore: stored failure detail of %s has count %q", k.day, n)
			}
			r.FailureDetails = append(r.FailureDetails, d)
		}
	}
	results := make([]tlsrpt.PolicyResult, 0, len(byPolicy))
	for _, r := range byPolicy {
		results = append(results, *r)
	}
	return results, nil
}

// Days returns the days with results, oldest first.
func (s *ResultStore) Days(ctx context.Context) ([]time.Time, error) {
	members, err := s.client.SMembers(ctx, s.prefix+"tlsrpt:days").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: listing the days: %w", err)
	}
	days := make([]time.Time, 0, len(members))
	for _, m := range members {
		t, err := time.Parse(time.DateOnly, m)
		if err != nil {
			return nil, fmt.Errorf("redisstore: stored day %q: %w", m, err)
		}
		days = append(days, t)
	}
	slices.SortFunc(days, time.Time.Compare)
	return days, nil
}

// Delete removes the results of day. Its batch ids are kept for eight
// days more, so that a batch of the day retried late is not added again.
func (s *ResultStore) Delete(ctx context.Context, day time.Time) error {
	k := s.keys(day)
	err := deleteScript.Run(ctx, s.client, []string{k.batches, k.days, k.counts},
		k.day, k.d, batchIDRetention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: deleting the results of %s: %w", k.day, err)
	}
	return nil
}

var _ tlsrpt.BatchStore = (*ResultStore)(nil)
