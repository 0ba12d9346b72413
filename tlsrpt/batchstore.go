package tlsrpt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// A BatchStore is a ResultStore on which a Collector's Flush is
// idempotent. Each Flush hands it every UTC day's counts as one batch with
// a random id; when the batch's acknowledgement is lost (a time-out, a
// dropped connection, a failover between "sent" and "acknowledged"), the
// Collector offers the same batch, with the same id, again and again
// until AddBatch returns nil, before anything recorded since. The store
// adds a batch whose id it has seen before no second time, so that every
// session is counted exactly once, however often the Flush is retried.
//
// A Redis implementation (module github.com/smtpsec/smtpsec/redisstore)
// checks the id and adds the counts in one server-side script; with SQL,
// inserting the id into a table with a primary key in the transaction of
// the upserts does the same.
type BatchStore interface {
	ResultStore
	// AddBatch adds results to the sums of day, as Add does, unless a
	// batch of the same id was added before: then it changes nothing and
	// returns nil. Checking the id and adding the counts are one atomic
	// step. Ids are at most 64 bytes of letters, digits and '-'.
	AddBatch(ctx context.Context, id string, day time.Time, results []PolicyResult) error
}

// batch is a day's counts handed to a BatchStore and not acknowledged
// yet.
type batch struct {
	id      string
	day     int64
	results []PolicyResult
}

// newBatchID returns a random batch id: 32 hex digits.
func newBatchID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tlsrpt: making a batch id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// sendBatch hands b to s. On success c.pending is cleared; on failure it
// holds b, to be offered again, unchanged, by the next Flush.
// c.flushMu must be held.
func (c *Collector) sendBatch(ctx context.Context, s BatchStore, b *batch) error {
	c.pending = b
	if err := s.AddBatch(ctx, b.id, dayStart(b.day), b.results); err != nil {
		return fmt.Errorf("tlsrpt: storing the results of %s (batch %s, to be retried): %w",
			dayStart(b.day).Format(time.DateOnly), b.id, err)
	}
	c.pending = nil
	return nil
}
