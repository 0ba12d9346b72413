package redisresp_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
)

// newClient returns a client of the URL, closed when the test ends.
func newClient(t testing.TB, url string) *redisresp.Client {
	t.Helper()
	opts, err := redisresp.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redisresp.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// do runs a command that must succeed.
func do(t testing.TB, c *redisresp.Client, args ...string) redisresp.Reply {
	t.Helper()
	r, err := c.Do(context.Background(), args...)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return r
}

// TestClientCommands: replies of each kind from a real server; a server
// error is a *ServerError and leaves the connection in the pool.
func TestClientCommands(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	if r := do(t, c, "SET", "k", "v\r\n\x00"); r.Kind != redisresp.KindStatus || string(r.Bytes) != "OK" {
		t.Errorf("SET: %+v", r)
	}
	if r := do(t, c, "GET", "k"); r.Kind != redisresp.KindBulk || string(r.Bytes) != "v\r\n\x00" {
		t.Errorf("GET: %+v", r)
	}
	if r := do(t, c, "GET", "missing"); r.Kind != redisresp.KindNil {
		t.Errorf("GET missing: %+v", r)
	}
	if r := do(t, c, "INCR", "n"); r.Kind != redisresp.KindInt || r.Int != 1 {
		t.Errorf("INCR: %+v", r)
	}
	id := do(t, c, "CLIENT", "ID").Int
	_, err := c.Do(context.Background(), "LPUSH", "k", "x")
	var se *redisresp.ServerError
	if !errors.As(err, &se) || se.Code != "WRONGTYPE" {
		t.Fatalf("LPUSH on a string: %v, want a WRONGTYPE ServerError", err)
	}
	if got := do(t, c, "CLIENT", "ID").Int; got != id {
		t.Errorf("connection %d after a server error, want %d again", got, id)
	}
	if r := do(t, c, "MGET", "k", "missing"); r.Kind != redisresp.KindArray || len(r.Array) != 2 || r.Array[1].Kind != redisresp.KindNil {
		t.Errorf("MGET: %+v", r)
	}
}

// TestClientAuthSelect: the password and database of the URL, for the
// default user with and without its name; a wrong password is a server
// error that does not quote it.
func TestClientAuthSelect(t *testing.T) {
	s := redistest.Start(t, "--requirepass", "s3cret")
	c := newClient(t, "redis://:s3cret@"+s.Addr+"/3")
	do(t, c, "SET", "k", "in 3")
	if r := do(t, c, "CLIENT", "INFO"); !strings.Contains(string(r.Bytes), "db=3") {
		t.Errorf("CLIENT INFO: %q, want db=3", r.Bytes)
	}
	c0 := newClient(t, "redis://default:s3cret@"+s.Addr)
	if r := do(t, c0, "GET", "k"); r.Kind != redisresp.KindNil {
		t.Errorf("db 0 has the key of db 3: %+v", r)
	}
	bad := newClient(t, "redis://:wrong-pass@"+s.Addr)
	_, err := bad.Do(context.Background(), "PING")
	var se *redisresp.ServerError
	if !errors.As(err, &se) || strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("wrong password: %v", err)
	}
	none := newClient(t, "redis://"+s.Addr)
	if _, err := none.Do(context.Background(), "PING"); !errors.As(err, &se) || se.Code != "NOAUTH" {
		t.Errorf("no password: %v, want NOAUTH", err)
	}
}

// TestClientUnixSocket: a unix:// URL with a db parameter.
func TestClientUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	redistest.Start(t, "--unixsocket", sock, "--unixsocketperm", "700")
	c := newClient(t, "unix://"+sock+"?db=2")
	do(t, c, "SET", "k", "v")
	if r := do(t, c, "CLIENT", "INFO"); !strings.Contains(string(r.Bytes), "db=2") {
		t.Errorf("CLIENT INFO: %q, want db=2", r.Bytes)
	}
}

// TestClientDeadline: a command blocked in the server ends at the
// context's deadline, and at CommandTimeout without one; the client goes
// on with a new connection.
func TestClientDeadline(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, "BLPOP", "never", "0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BLPOP past the deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Do(ctx, "BLPOP", "never", "0")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("BLPOP cancelled: %v", err)
	}
	opts, _ := redisresp.ParseURL("redis://" + s.Addr)
	opts.CommandTimeout = 20 * time.Millisecond
	short := redisresp.NewClient(opts)
	defer short.Close()
	if _, err := short.Do(context.Background(), "BLPOP", "never", "0"); err == nil {
		t.Error("BLPOP past CommandTimeout: no error")
	}
	do(t, c, "PING")
}

// TestClientConcurrent: many goroutines on a pool of two connections.
func TestClientConcurrent(t *testing.T) {
	s := redistest.Start(t)
	opts, _ := redisresp.ParseURL("redis://" + s.Addr)
	opts.PoolSize = 2
	c := redisresp.NewClient(opts)
	defer c.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := c.Do(context.Background(), "INCR", "n"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if r := do(t, c, "GET", "n"); string(r.Bytes) != "800" {
		t.Errorf("n = %q, want 800", r.Bytes)
	}
	if r := do(t, c, "CLIENT", "LIST"); strings.Count(string(r.Bytes), "\n") > 2 {
		t.Errorf("more than 2 connections:\n%s", r.Bytes)
	}
}

// TestClientRestart: commands fail while the server is down and work
// again once it is back, on new connections.
func TestClientRestart(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	do(t, c, "PING")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), "PING"); err == nil {
		t.Fatal("PING with the server stopped: no error")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	do(t, c, "PING")
	c.Close()
	if _, err := c.Do(context.Background(), "PING"); !errors.Is(err, redisresp.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestParseURL: the URL forms and their mistakes; no error quotes the
// password.
func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		url                       string
		network, addr, user, pass string
		db                        int
		tls                       bool
	}{
		{"redis://127.0.0.1", "tcp", "127.0.0.1:6379", "", "", 0, false},
		{"redis://u:p@127.0.0.1:7000/5", "tcp", "127.0.0.1:7000", "u", "p", 5, false},
		{"rediss://:p@[::1]:7000/", "tcp", "[::1]:7000", "", "p", 0, true},
		{"unix:///run/redis.sock?db=9", "unix", "/run/redis.sock", "", "", 9, false},
		{"unix://:p@/run/redis.sock", "unix", "/run/redis.sock", "", "p", 0, false},
	} {
		o, err := redisresp.ParseURL(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if o.Network != tt.network || o.Addr != tt.addr || o.Username != tt.user || o.Password != tt.pass || o.DB != tt.db || (o.TLS != nil) != tt.tls {
			t.Errorf("%s: %+v", tt.url, o)
		}
	}
	for _, bad := range []string{"http://x", "redis://", "redis://:hunter2@h/x", "redis://:hunter2@h/70000",
		"redis://:hunter2@h?db=1", "unix://:hunter2@host/p", "unix://", "redis://:hunter2@h/1?timeout=1", "redis://:hunter2@h:bad%/"} {
		_, err := redisresp.ParseURL(bad)
		if err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the password: %v", bad, err)
		}
	}
}

// itoa is strconv.Itoa, short.
func itoa(i int) string { return strconv.Itoa(i) }
