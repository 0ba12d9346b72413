// Package redistest starts a real redis-server for tests: on a random
// loopback port, with its directory in the test's temporary directory and
// no persistence, stopped when the test ends.
//
// Start skips the test with a clear message when redis-server is not
// installed, except in CI (environment CI=true), where the test fails:
// CI must run every Redis test.
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

// Server is a running (or stopped) redis-server of a test.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	args []string
	cmd  *exec.Cmd
	exit chan error
}

// Start starts a redis-server on a free loopback port with the extra
// command line args (for example "--requirepass", "secret"), stopped at
// the end of the test.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed, and CI must run this test: %v", err)
		}
		t.Skip("SKIP: redis-server is not installed (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Start runs the stopped server again, on the same port, and returns
// once it accepts connections (its "Ready to accept connections" line).
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
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
		return nil
	case <-time.After(readyBound):
		cmd.Process.Kill()
		<-s.exit
		return fmt.Errorf("redistest: redis-server on %s did not stop within %v", s.Addr, readyBound)
	}
}
