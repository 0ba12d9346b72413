package loopback

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
)

// TCP accepts connections on 127.0.0.1 and runs serve on each in its
// own goroutine, until the test ends; then it closes the listener and all
// connections and waits for serve to return. It returns the address.
func TCP(t testing.TB, serve func(net.Conn)) string {
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

// SMTP starts a minimal SMTP server on loopback that offers STARTTLS
// with cert: it greets, answers EHLO, and after STARTTLS runs the TLS
// handshake and answers EHLO and QUIT. It returns the address. It stops
// when the test ends.
func SMTP(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return TCP(t, func(conn net.Conn) { ServeSMTP(conn, cfg) })
}

// ServeSMTP is the server of SMTP, on one connection, with cfg for
// STARTTLS.
func ServeSMTP(conn net.Conn, cfg *tls.Config) {
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

// ServePlainSMTP is an SMTP server without STARTTLS: it greets, answers
// EHLO with no extensions and says goodbye on QUIT.
func ServePlainSMTP(conn net.Conn) {
	r := bufio.NewReader(conn)
	say := func(s string) bool {
		_, err := conn.Write([]byte(s + "\r\n"))
		return err == nil
	}
	if !say("220 plain.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO", "HELO":
			say("250 plain.test")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 5.5.1 command not recognized")
		}
	}
}

// ServeSilent accepts and never says anything: the client times out.
func ServeSilent(conn net.Conn) {
	_, _ = conn.Read(make([]byte, 1))
}

// ServeFlood greets with an endless multi-line reply.
func ServeFlood(conn net.Conn) {
	line := []byte("220-" + strings.Repeat("x", 1000) + "\r\n")
	for {
		if _, err := conn.Write(line); err != nil {
			return
		}
	}
}

// ClosedAddr returns the address of a loopback port nobody listens on.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
