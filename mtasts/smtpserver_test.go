package mtasts

// SMTP servers on loopback for the tests of the package: startSMTP, a
// well-behaved server offering STARTTLS, and servers that misbehave in
// the ways an inspector must survive.

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
)

// startTCP accepts connections on 127.0.0.1 and runs serve on each in its
// own goroutine, until the test ends; then it closes the listener and all
// connections and waits for serve to return. It returns the address.
func startTCP(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				defer func() { _ = conn.Close() }()
				serve(conn)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startSMTP starts a minimal SMTP server on loopback that offers STARTTLS
// with cert: it greets, answers EHLO, and after STARTTLS runs the TLS
// handshake and answers EHLO and QUIT. It returns the address. It stops
// when the test ends.
func startSMTP(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return startTCP(t, func(conn net.Conn) { serveSMTP(conn, cfg) })
}

func serveSMTP(conn net.Conn, cfg *tls.Config) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	say := func(s string) bool {
		_, err := w.WriteString(s + "\r\n")
		return err == nil && w.Flush() == nil
	}
	if !say("220 mx.test ESMTP") {
		return
	}
	secure := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && !secure:
			say("250-mx.test\r\n250 STARTTLS")
		case verb == "EHLO":
			say("250 mx.test")
		case verb == "STARTTLS" && !secure:
			if !say("220 ready to start TLS") {
				return
			}
			tc := tls.Server(conn, cfg)
			if tc.Handshake() != nil {
				return
			}
			conn, secure = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 5.5.1 command not recognized")
		}
	}
}
