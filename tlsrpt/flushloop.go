package tlsrpt

import (
	"context"
	"time"
)

// Timings of FlushEvery.
const (
	// flushRetryFirst is the first pause after a failed Flush.
	flushRetryFirst = time.Second
	// finalFlushTimeout bounds the Flush made when FlushEvery's context
	// ends.
	finalFlushTimeout = 10 * time.Second
)

// FlushEvery calls Flush every interval until ctx ends, then once more,
// bounded by ten seconds, so that an MTA shutting down stores what it
// recorded; it returns the error of that last Flush.
//
// A failed Flush (the Store is unavailable) is logged and tried again
// after a pause that starts at one second, or interval if shorter, and
// doubles up to interval. Meanwhile the counts stay in the Collector,
// which goes on recording (within MaxFailureDetails per policy and day,
// see Overflow), so nothing is lost while the Store is down; with a
// BatchStore the unacknowledged batch is retried unchanged.
func (c *Collector) FlushEvery(ctx context.Context, interval time.Duration) error {
	c.init()
	if interval <= 0 {
		interval = time.Minute
	}
	first := min(flushRetryFirst, interval)
	wait, failing := interval, false
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			return c.Flush(fctx)
		case <-t.C:
		}
		if err := c.Flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			if failing {
				wait = min(2*wait, interval)
			} else {
				wait, failing = first, true
			}
			c.log.Warn("tlsrpt: flushing the session counts failed; keeping them and retrying", "retry-in", wait, "err", err)
		} else {
			wait, failing = interval, false
		}
		t.Reset(wait)
	}
}
