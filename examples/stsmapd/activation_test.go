package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runActivated is the child of TestSystemdActivation: it does what
// systemd does after forking (LISTEN_PID and LISTEN_FDS for this process,
// the socket on file descriptor 3, given by the parent) and runs the
// program with listen "systemd".
func runActivated() int {
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	os.Setenv("LISTEN_FDS", "1")
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM)
	return run(context.Background(), []string{"-listen", "systemd", "-resolvers", "127.0.0.1:9"}, os.Stdout, os.Stderr, signals)
}

// A daemon started by a systemd socket unit serves the socket it is given,
// and SIGTERM stops it cleanly.
func TestSystemdActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=systemd")
	cmd.ExtraFiles = []*os.File{f} // file descriptor 3
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ln.Close() // the child holds the socket now

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	// The kernel queues the connection until the child accepts it.
	if _, err := c.Write([]byte(netstring("postfix [192.0.2.1]:25"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if err := readReplyInto(bufio.NewReader(c), buf); err != nil {
		t.Fatalf("reply: %v (log: %s)", err, logs.String())
	}
	if got := string(buf[:len("NOTFOUND ")]); got != "NOTFOUND " {
		t.Errorf("reply %q, want NOTFOUND ", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v (log: %s)", err, logs.String())
	}
}

// Without a socket from systemd, listen "systemd" is an error, not a
// daemon listening nowhere.
func TestSystemdListenerAbsent(t *testing.T) {
	t.Setenv("LISTEN_PID", "")
	t.Setenv("LISTEN_FDS", "")
	if ln, err := systemdListener(); err == nil {
		ln.Close()
		t.Fatal("systemdListener succeeded without LISTEN_PID")
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	t.Setenv("LISTEN_FDS", "1")
	if _, err := systemdListener(); err == nil || !strings.Contains(err.Error(), "no socket passed") {
		t.Fatalf("LISTEN_PID of another process: %v", err)
	}
}
