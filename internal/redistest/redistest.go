// Package redistest starts a real redis-server for tests: on a random
// loopback port, with its directory in a temporary directory and no
// persistence unless asked for, stopped when the test (or the test
// binary) ends.
//
// Start gives a test a server of its own; Main, from TestMain, gives all
// the tests of a package one shared server (each test then keeps to keys
// of its own). Stop and Start restart a server with no data; StopSaving
// and Start restart it with its data, as a Redis with persistence.
//
// Without redis-server, Start skips the test and Main runs none, with a
// clear message, except in CI (environment CI=true), where the test or
// the binary fails: CI must run every Redis test.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyBound is how long a server may take to start or stop before the
// test fails; it bounds a hang, it is not a synchronisation.
const readyBound = time.Minute

// skipMessage is what a test without redis-server says.
const skipMessage = "SKIP: redis-server is not installed (apt-get install redis-server)"

// Server is a running (or stopped) redis-server of a test.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	args []string
	cmd  *exec.Cmd
	exit chan error
}

// installed returns nil when redis-server can run, or why not.
func installed() error {
	_, err := exec.LookPath("redis-server")
	return err
}

// inCI reports whether the tests run in CI, where none may be skipped.
func inCI() bool { return os.Getenv("CI") == "true" }

// Start starts a redis-server on a free loopback port with the extra
// command line args (for example "--requirepass", "secret"), stopped at
// the end of the test.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if err := installed(); err != nil {
		if inCI() {
			t.Fatalf("redis-server is not installed, and CI must run this test: %v", err)
		}
		t.Skip(skipMessage)
	}
	s, err := start(t.TempDir(), args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Main is the TestMain of a package whose tests share one server: it
// starts a server with the extra args, sets *shared to it, runs the
// tests, stops the server and returns the exit code for os.Exit. Without
// redis-server it runs no test: it prints a SKIP line and returns 0, or
// 1 in CI.
func Main(m *testing.M, shared **Server, args ...string) int {
	if err := installed(); err != nil {
		if inCI() {
			fmt.Fprintln(os.Stderr, "redis-server is not installed, and CI must run these tests:", err)
			return 1
		}
		fmt.Println(skipMessage)
		return 0
	}
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := start(dir, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*shared = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	return code
}

// start starts a server on a free loopback port with its files in dir.
func start(dir string, args []string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, args...)
	return s, s.Start()
}

// Start runs the stopped server again, on the same port and directory
// (so with the data StopSaving wrote), and returns once it accepts
// connections (its "Ready to accept connections" line).
func (s *Server) Start() error {
	if s.cmd != nil {
		return errors.New("redistest: server already running")
	}
	cmd := exec.Command("redis-server", s.args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	exit := make(chan error, 1)
	var log strings.Builder
	logged := make(chan string, 1)
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
		logged <- log.String()
		exit <- cmd.Wait()
	}()
	select {
	case <-ready:
		s.cmd, s.exit = cmd, exit
		return nil
	case text := <-logged:
		return fmt.Errorf("redistest: redis-server on %s exited (%v):\n%s", s.Addr, <-exit, text)
	case <-time.After(readyBound):
		cmd.Process.Kill()
		return fmt.Errorf("redistest: redis-server on %s not ready within %v", s.Addr, readyBound)
	}
}

// Stop stops the server (SIGTERM; it saves nothing) and waits for it to
// exit. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	return s.wait()
}

// StopSaving stops the server after it wrote its data to its directory
// (SHUTDOWN SAVE), for a Start that loads it again, and waits for it to
// exit. It sends the command without AUTH: the server must not require a
// password.
func (s *Server) StopSaving() error {
	if s.cmd == nil {
		return errors.New("redistest: server not running")
	}
	c, err := net.DialTimeout("tcp", s.Addr, readyBound)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(readyBound))
	if _, err := c.Write([]byte("SHUTDOWN SAVE\r\n")); err != nil {
		return err
	}
	// A server that shuts down closes the connection without a reply;
	// a reply is the error that kept it running.
	if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		return fmt.Errorf("redistest: SHUTDOWN SAVE on %s: %q", s.Addr, strings.TrimSpace(line))
	}
	return s.wait()
}

// wait waits for the stopping server to exit, and kills it after
// readyBound.
func (s *Server) wait() error {
	cmd := s.cmd
	s.cmd = nil
	select {
	case <-s.exit:
		return nil
	case <-time.After(readyBound):
		cmd.Process.Kill()
		<-s.exit
		return fmt.Errorf("redistest: redis-server on %s did not stop within %v", s.Addr, readyBound)
	}
}
