package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// server is a redis-server of the tests' own, on a random loopback port,
// with its data in a temporary directory and no persistence unless asked
// for (SHUTDOWN SAVE in Stop).
type server struct {
	Addr string
	port int
	dir  string
	cmd  *exec.Cmd
	exit chan error
}

// sharedAddr is the address of the server TestMain starts for the tests
// that need no server of their own; each test uses its own key prefix.
var sharedAddr string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "redisstore: redis-server is not installed, and CI must run these tests:", err)
			os.Exit(1)
		}
		fmt.Println("redisstore: SKIP: redis-server is not installed (apt-get install redis-server)")
		os.Exit(0)
	}
	// The outage test makes go-redis log every refused dial; the tests
	// check the errors the stores return instead.
	redis.SetLogger(quietLogger{})
	dir, err := os.MkdirTemp("", "redisstore")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := startServer(dir, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedAddr = s.Addr
	code := m.Run()
	s.Stop(false)
	os.RemoveAll(dir)
	os.Exit(code)
}

// newServer starts a server for one test, stopped when the test ends.
func newServer(t testing.TB) *server {
	t.Helper()
	s, err := startServer(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(false) })
	return s
}

// startServer starts redis-server on port (0: a free one) with dir as its
// directory and waits until it accepts connections.
func startServer(dir string, port int) (*server, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s := &server{port: port, dir: dir, Addr: "127.0.0.1:" + strconv.Itoa(port)}
	return s, s.Start()
}

// Start runs the server (again) and waits for its "Ready to accept
// connections" line.
func (s *server) Start() error {
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	s.exit = make(chan error, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		s.exit <- cmd.Wait()
	}()
	select {
	case <-ready:
		s.cmd = cmd
		return nil
	case err := <-s.exit:
		return fmt.Errorf("redis-server on %s exited (%v):\n%s", s.Addr, err, log.String())
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		return errors.New("redis-server did not get ready within a minute")
	}
}

// Stop stops the server; with save, it writes its data to its directory
// first (SHUTDOWN SAVE), for a Start that picks it up again.
func (s *server) Stop(save bool) {
	if s.cmd == nil {
		return
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	mode := "NOSAVE"
	if save {
		mode = "SAVE"
	}
	c.Do(context.Background(), "SHUTDOWN", mode) // the connection drops: no reply
	select {
	case <-s.exit:
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
}

// client returns a client of the server at addr, closed when the test
// ends.
func client(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 5 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// prefixes numbers the prefixes given out, so that a test run again in
// the same process (-count) starts afresh.
var prefixes atomic.Int64

// prefix is a key prefix of the test's own on the shared server.
func prefix(t testing.TB) string {
	return strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

// discard is a logger for what a test does not look at.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// quietLogger drops go-redis's own log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
