package world

import (
	"sync"
	"time"
)

// Clock is the world's time, moved forward by the program, so that a
// demonstration of days of MTA-STS and TLS-RPT runs in a second. Every
// part of the world that reads the time (policy cache, certificate
// checks, report collector) is given Clock.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
