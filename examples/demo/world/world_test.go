package world

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func newTestWorld(t *testing.T) *World {
	t.Helper()
	w, err := New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// TestDNS checks the zone of example.com as the world's resolver sees it.
func TestDNS(t *testing.T) {
	w := newTestWorld(t)
	ctx := t.Context()
	mxs, err := w.Net.Resolver.LookupMX(ctx, Domain)
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 2 || mxs[0].Host != MX1+"." || mxs[0].Pref != 10 || mxs[1].Host != MX2+"." || mxs[1].Pref != 20 {
		t.Errorf("MX = %+v", mxs)
	}
	txt, err := w.Net.Resolver.LookupTXT(ctx, "_smtp._tls."+Domain)
	if err != nil || len(txt) != 1 || txt[0] != TLSRPTRecord {
		t.Errorf("TLS-RPT TXT = %q, %v", txt, err)
	}
	long := strings.Repeat("a", 600)
	w.DNS.SetTXT("long."+Domain, TTL, long)
	if txt, err := w.Net.Resolver.LookupTXT(ctx, "long."+Domain); err != nil || len(txt) != 1 || txt[0] != long {
		t.Errorf("a 600-byte TXT record came back as %d records, %v", len(txt), err)
	}
	// No such name, and a name without TXT records: both "not found".
	for _, name := range []string{"nosuch." + Domain, MX1} {
		_, err := w.Net.Resolver.LookupTXT(ctx, name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("TXT %s: %v, want not found", name, err)
		}
	}
	w.DNS.SetTXT("_smtp._tls."+Domain, TTL)
	if _, err := w.Net.Resolver.LookupTXT(ctx, "_smtp._tls."+Domain); err == nil {
		t.Error("the removed TXT record is still there")
	}
}

// TestSMTPLimits checks that the MX hosts end sessions that break the
// limits of RFC 5321.
func TestSMTPLimits(t *testing.T) {
	w := newTestWorld(t)
	c, err := w.Net.DialContext(context.Background(), "tcp", MX2+":25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "220 "+MX2) {
		t.Fatalf("greeting %q", line)
	}
	c.Write([]byte("EHLO " + strings.Repeat("x", 600) + "\r\n"))
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "500 ") {
		t.Errorf("reply to a 606-byte command: %q, want 500", line)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("the session goes on after an overlong line")
	}
	if _, err := w.Net.DialContext(context.Background(), "tcp", "mx9.example.com:25"); err == nil {
		t.Error("dialled a host that is not in the world")
	}
}
