package main

import (
	"context"
	"sync"
	"time"
)

// requestContext is the context of one socketmap request: it ends at the
// request's deadline. A connection reuses one for all its requests, and
// its Done channel and timer are made only when something waits on it, so
// a request answered from memory (policycache's hot path never waits)
// costs no allocation and no timer.
type requestContext struct {
	mu       sync.Mutex
	gen      uint64 // which request the fields are for
	deadline time.Time
	done     chan struct{}
	timer    *time.Timer
	err      error
}

var _ context.Context = (*requestContext)(nil)

// start readies c for a request that must be answered by deadline.
func (c *requestContext) start(deadline time.Time) {
	c.mu.Lock()
	c.gen++
	c.deadline, c.done, c.timer, c.err = deadline, nil, nil, nil
	c.mu.Unlock()
}

// finish releases the timer of the current request, if one was made.
func (c *requestContext) finish() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.gen++
	c.mu.Unlock()
}

// Deadline returns the request's deadline.
func (c *requestContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

// Done returns a channel closed at the deadline.
func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		} else if d := time.Until(c.deadline); d <= 0 {
			c.expireLocked()
		} else {
			gen := c.gen
			c.timer = time.AfterFunc(d, func() { c.expire(gen) })
		}
	}
	return c.done
}

// Err returns context.DeadlineExceeded once the deadline has passed.
func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.expireLocked()
	}
	return c.err
}

// Value returns nil: a request carries no values.
func (c *requestContext) Value(any) any { return nil }

// expire ends request gen, unless another request has started since.
func (c *requestContext) expire(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && c.err == nil {
		c.expireLocked()
	}
}

func (c *requestContext) expireLocked() {
	c.err = context.DeadlineExceeded
	if c.done != nil {
		close(c.done)
	}
}
