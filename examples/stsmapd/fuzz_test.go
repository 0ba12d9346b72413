package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// fixedCache answers every valid domain with an enforce policy, without
// network: the fuzz target exercises the protocol, not discovery.
type fixedCache struct{ policy *mtasts.Policy }

func (f fixedCache) Lookup(_ context.Context, domain string) (policycache.Result, error) {
	d, err := mtasts.NormalizeDomain(domain)
	if err != nil {
		return policycache.Result{}, policycache.ErrInvalidDomain
	}
	return policycache.Result{Domain: d, Policy: f.policy, Fresh: true}, nil
}

// FuzzConnection feeds arbitrary bytes to a socketmap connection: it must
// never panic, and every reply must be a netstring of at most maxReply
// bytes in one of the socketmap_table(5) forms.
func FuzzConnection(f *testing.F) {
	for _, seed := range []string{
		netstring("postfix example.com"),
		netstring("postfix [example.com]:25") + netstring("postfix .example.com") + netstring("x y"),
		netstring("postfix \xff\xfe") + "12:postfix a.b",
		"1x:abc,", ":,", "00:,", "10001:", netstring("postfix " + strings.Repeat("a.", 200)),
	} {
		f.Add([]byte(seed))
	}
	p, err := mtasts.NewPolicy(mtasts.ModeEnforce, time.Hour, "mx1.example.com", "*.mx.example.com")
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics()
	st := &settings{
		zones:          map[string]*zone{"postfix": {name: "postfix", counts: m.zone("postfix")}},
		requestTimeout: time.Second, idleTimeout: 5 * time.Second, maxConns: 64,
	}
	s := newServer(fixedCache{p}, log, m, st)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go s.serve(ln)
	f.Cleanup(func() { s.shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write(input)
			c.(*net.TCPConn).CloseWrite() // the server ends at EOF
		}()
		br := bufio.NewReader(c)
		for {
			r, err := readReply(br)
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("reading a reply: %v", err)
			}
			if len(r) > maxReply {
				t.Fatalf("reply of %d bytes", len(r))
			}
			ok := false
			for _, prefix := range []string{"OK ", "NOTFOUND ", "TEMP ", "TIMEOUT ", "PERM "} {
				ok = ok || strings.HasPrefix(r, prefix)
			}
			if !ok {
				t.Fatalf("reply %q", r)
			}
		}
	})
}
