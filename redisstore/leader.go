package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of NewDayLeader.
const (
	// DefaultLease is how long a leader holds a day's job before another
	// MTA may take it over.
	DefaultLease = 10 * time.Minute
	// doneRetention is how long the mark of a finished day is kept.
	doneRetention = 40 * 24 * time.Hour
)

// DayLeader elects, for each UTC day, the one MTA of a fleet that makes
// the day's TLS-RPT reports from the fleet's sums (RFC 8460 §4.1: one
// report per policy domain and day) and enqueues them. Every MTA runs the
// daily job; each asks Lead first, and only the one it returns true to
// makes the reports and then calls Done. The others get false: the job is
// either running elsewhere or done.
//
// The leadership is a lease, "SET NX PX" in Redis: an MTA that crashes
// while it leads blocks the day only until the lease runs out, when the
// next MTA to ask takes over. The leader calls Lead again to extend its
// lease for a long job; the lease must outlast the time from Lead to Done,
// or a second MTA may start the job. Done leaves a mark, kept for forty
// days, that ends the day's elections.
//
// Keys, under the prefix, for day D (yyyy-mm-dd): tlsrpt:D:leader (the
// lease, holding the leader's random token) and tlsrpt:D:done.
//
// A DayLeader is one MTA's voice: give each its own, from NewDayLeader. It
// is safe for concurrent use.
type DayLeader struct {
	client redis.UniversalClient
	prefix string
	lease  time.Duration
	token  string
}

// NewDayLeader returns a DayLeader on client whose keys start with prefix
// and whose leases last lease (zero means DefaultLease).
func NewDayLeader(client redis.UniversalClient, prefix string, lease time.Duration) (*DayLeader, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redisstore: making a leader token: %w", err)
	}
	return &DayLeader{client: client, prefix: prefix, lease: max(lease, time.Millisecond), token: hex.EncodeToString(b[:])}, nil
}

func (l *DayLeader) keys(day time.Time) []string {
	p := l.prefix + "tlsrpt:" + day.UTC().Format(time.DateOnly) + ":"
	return []string{p + "done", p + "leader"}
}

// Lead reports whether this MTA leads the daily job of the UTC day holding
// day: true when it took the lease or holds it already (which extends it),
// false when another MTA holds it or the job is done.
func (l *DayLeader) Lead(ctx context.Context, day time.Time) (bool, error) {
	n, err := leadScript.Run(ctx, l.client, l.keys(day), l.token, l.lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: leading the job of %s: %w", day.UTC().Format(time.DateOnly), err)
	}
	return n == 1, nil
}

// Done marks the daily job of the UTC day holding day as finished, so that
// no MTA leads it again, and releases this MTA's lease.
func (l *DayLeader) Done(ctx context.Context, day time.Time) error {
	err := doneScript.Run(ctx, l.client, l.keys(day), l.token, doneRetention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: finishing the job of %s: %w", day.UTC().Format(time.DateOnly), err)
	}
	return nil
}
