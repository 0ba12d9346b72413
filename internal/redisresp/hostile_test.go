package redisresp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/smtpsec/smtpsec/internal/redisresp"
)

// fakeServer accepts connections on loopback and answers the first
// command on connection i (from 0) with replies[i] and closes it; later
// connections answer "+OK" to every command. accepted counts the
// connections.
type fakeServer struct {
	ln       net.Listener
	accepted chan int
}

func startFake(t *testing.T, replies ...string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, accepted: make(chan int, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted <- i
			reply, once := "+OK\r\n", i < len(replies)
			if once {
				reply = replies[i]
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// A command of one argument: "*1", "$n", the argument.
					for range 3 {
						if _, err := br.ReadString('\n'); err != nil {
							return
						}
					}
					if _, err := io.WriteString(c, reply); err != nil || once {
						return
					}
				}
			}()
		}
	}()
	return f
}

// TestClientHostileServer: a reply past a limit, cut short or not RESP
// is an ErrProtocol (or an unexpected EOF), quoted short, and the
// connection is dropped: the next command runs on a new one.
func TestClientHostileServer(t *testing.T) {
	for _, tt := range []struct {
		name, reply string
		want        error
	}{
		{"huge bulk", "$999999999\r\n", redisresp.ErrProtocol},
		{"huge array", "*99999999\r\n", redisresp.ErrProtocol},
		{"long line", "+" + strings.Repeat("\x1b", 10000) + "\r\n", redisresp.ErrProtocol},
		{"not RESP", "HTTP/1.1 400 Bad Request\r\n", redisresp.ErrProtocol},
		{"cut bulk", "$10\r\nabc", io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.reply)
			opts, _ := redisresp.ParseURL("redis://" + f.ln.Addr().String())
			opts.PoolSize = 1
			c := redisresp.NewClient(opts)
			defer c.Close()
			_, err := c.Do(context.Background(), "PING")
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if len(err.Error()) > 400 || strings.Contains(err.Error(), "\x1b") {
				t.Errorf("error not cut and escaped: %.100q", err)
			}
			if <-f.accepted != 0 {
				t.Fatal("first connection not number 0")
			}
			if r, err := c.Do(context.Background(), "PING"); err != nil || string(r.Bytes) != "OK" {
				t.Fatalf("second command: %+v, %v", r, err)
			}
			if n := <-f.accepted; n != 1 {
				t.Errorf("second command on connection %d, want a new one (1)", n)
			}
		})
	}
}
