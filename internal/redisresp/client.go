package redisresp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client is a pool of connections to one Redis server. It is safe for
// concurrent use; create it with NewClient and end it with Close.
type Client struct {
	opts  Options
	slots chan struct{} // one token per connection that may be open
	idle  chan *conn    // connections between commands

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

// conn is one connection with its buffers.
type conn struct {
	nc  net.Conn
	rr  *replyReader
	buf []byte // the encoded command, reused
	// interrupted is set when the end of a context moved the deadline
	// into the past: the connection must not serve another command.
	interrupted bool
}

// NewClient returns a Client of opts. It connects when first used.
func NewClient(opts Options) *Client {
	opts = opts.withDefaults()
	return &Client{
		opts:  opts,
		slots: make(chan struct{}, opts.PoolSize),
		idle:  make(chan *conn, opts.PoolSize),
		done:  make(chan struct{}),
	}
}

// Close closes the idle connections and makes further commands fail with
// ErrClosed; a command in flight closes its connection when it ends.
func (c *Client) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	for {
		select {
		case cn := <-c.idle:
			cn.nc.Close()
		default:
			return nil
		}
	}
}

// Do sends the command args and returns its reply. An error reply is a
// *ServerError; the connection is closed after any other error.
func (c *Client) Do(ctx context.Context, args ...string) (Reply, error) {
	if len(args) == 0 {
		return Reply{}, errors.New("redisresp: empty command")
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.done:
		return Reply{}, ErrClosed
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	defer func() { <-c.slots }()
	select {
	case <-c.done:
		return Reply{}, ErrClosed
	default:
	}
	cn, err := c.get(ctx)
	if err != nil {
		return Reply{}, err
	}
	r, err := cn.do(ctx, c.opts.CommandTimeout, args)
	var serr *ServerError
	if (err != nil && !errors.As(err, &serr)) || cn.interrupted {
		cn.nc.Close()
		if err == nil {
			return r, nil
		}
		if cerr := ctxErr(ctx); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return Reply{}, fmt.Errorf("redisresp: %s: %w", args[0], err)
	}
	c.put(cn)
	return r, err
}

// ctxErr is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed: the connection's deadline, set to the same instant, may
// fire before ctx's own timer does.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// get returns an idle connection or a new one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	select {
	case cn := <-c.idle:
		return cn, nil
	default:
	}
	return c.dial(ctx)
}

// put keeps cn for the next command, or closes it after Close.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cn.nc.Close()
		return
	}
	c.idle <- cn // never blocks: at most PoolSize connections exist
}

// dial opens a connection and authenticates and selects the database.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, c.opts.Network, c.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("redisresp: connecting: %w", err)
	}
	if c.opts.TLS != nil {
		tc := tls.Client(nc, c.opts.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("redisresp: TLS handshake: %w", err)
		}
		nc = tc
	}
	cn := &conn{nc: nc, rr: newReplyReader(nc)}
	var setup [][]string
	if c.opts.Password != "" {
		if c.opts.Username != "" {
			setup = append(setup, []string{"AUTH", c.opts.Username, c.opts.Password})
		} else {
			setup = append(setup, []string{"AUTH", c.opts.Password})
		}
	}
	if c.opts.DB != 0 {
		setup = append(setup, []string{"SELECT", strconv.Itoa(c.opts.DB)})
	}
	for _, args := range setup {
		if _, err := cn.do(ctx, c.opts.DialTimeout, args); err != nil {
			nc.Close()
			return nil, fmt.Errorf("redisresp: %s: %w", args[0], err) // never the password
		}
	}
	return cn, nil
}

// do sends args and reads the reply within timeout or the deadline of
// ctx, whichever comes first; the end of ctx interrupts the I/O.
func (cn *conn) do(ctx context.Context, timeout time.Duration, args []string) (Reply, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return Reply{}, err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				cn.interrupted = true
			}
		}()
	}
	cn.buf = appendCommand(cn.buf[:0], args...)
	if _, err := cn.nc.Write(cn.buf); err != nil {
		return Reply{}, err
	}
	if cap(cn.buf) > 64<<10 {
		cn.buf = nil // do not keep the buffer of a large SET
	}
	return cn.rr.read()
}
