package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestColdCoalesced: 1000 new domains (200 with -race or -short) asked by 16 connections at once,
// each connection asking for every domain, cost exactly one TXT query and
// one fetch per domain; a domain without a policy asked 1000 times costs
// one TXT query (negative answers are cached).
func TestColdCoalesced(t *testing.T) {
	n := 1000
	if raceEnabled || testing.Short() {
		n = 200 // the same rules at a fifth of the handshakes
	}
	domains := manyDomains(n)
	w := newTestWorldWith(t, domains)
	cfg := testConfig()
	cfg.LogLevel = "info"
	dm := startDaemon(t, cfg, w.deps())
	const conns = 16
	var wg sync.WaitGroup
	errs := make(chan string, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dialQuiet(t, dm)
			defer cl.c.Close()
			var raw strings.Builder
			for i := range domains {
				// Each connection walks the domains from its own offset, so
				// that the 16 ask different cold domains at the same time.
				raw.WriteString(netstring("postfix " + domains[(i+c*n/conns)%n]))
			}
			for range n / conns {
				raw.WriteString(netstring("postfix " + nopolicyDomain))
			}
			go cl.c.Write([]byte(raw.String()))
			for i := range domains {
				d := domains[(i+c*n/conns)%n]
				want := "OK secure match=mx1." + d + " servername=hostname"
				if got, err := readReply(cl.br); err != nil || got != want {
					errs <- d + ": " + got
					return
				}
			}
			for range n / conns {
				if got, err := readReply(cl.br); err != nil || got != "NOTFOUND " {
					errs <- "nopolicy: " + got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := dm.metrics.discoveries.Load(); got != int64(n+1) {
		t.Errorf("%d TXT queries, want %d", got, n+1)
	}
	if got := dm.metrics.fetches.Load(); got != int64(n) {
		t.Errorf("%d fetches, want %d", got, n)
	}
}

// TestOverloadNeverDowngrades: with max_connections 4 and 32 clients, a
// domain with a cached enforce policy gets its policy on every connection
// served, and TEMP (or a closed connection) on every refused one: never
// NOTFOUND.
func TestOverloadNeverDowngrades(t *testing.T) {
	w := newTestWorld(t)
	cfg := testConfig()
	cfg.LogLevel = "info"
	cfg.MaxConnections = 4
	dm := startDaemon(t, cfg, w.deps())
	if got := dial(t, dm).ask("postfix " + enforceDomain); got != enforceReply {
		t.Fatalf("warm-up: %q", got)
	}
	const clients, requests = 32, 200
	var (
		wg                          sync.WaitGroup
		mu                          sync.Mutex
		served, refused, downgraded int
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dialQuiet(t, dm)
			defer cl.c.Close()
			for range requests {
				if _, err := cl.c.Write([]byte(netstring("postfix " + enforceDomain))); err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					return
				}
				got, err := readReply(cl.br)
				mu.Lock()
				switch {
				case err != nil || got == replyOverload:
					refused++
				case got == enforceReply:
					served++
				default:
					downgraded++
				}
				mu.Unlock()
				if err != nil || got == replyOverload {
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("served %d requests, refused %d connections", served, refused)
	if downgraded != 0 {
		t.Errorf("%d requests for an enforce domain answered otherwise", downgraded)
	}
	if served < 3*requests { // the warm-up connection holds the fourth
		t.Errorf("only %d requests served", served)
	}
	if got := dm.metrics.refused.Load(); got == 0 {
		t.Errorf("no connection refused")
	}
}

// dialQuiet is dial for a goroutine that is not the test's: no Fatal.
func dialQuiet(t testing.TB, dm *daemon) *client {
	c, err := net.Dial("tcp", dm.ln.Addr().String())
	if err != nil {
		t.Error(err)
		c, _ = net.Pipe()
		c.Close()
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}
