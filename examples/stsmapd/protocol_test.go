package main

import (
	"strings"
	"testing"
)

const enforceReply = "OK secure match=mx1.enforce.test:.mx.enforce.test servername=hostname"

// TestFramingErrors sends malformed netstrings after a good request: the
// good one is answered, the bad one gets PERM, and only then does the
// connection close.
func TestFramingErrors(t *testing.T) {
	w := newTestWorld(t)
	dm := startDaemon(t, testConfig(), w.deps())
	for _, tc := range []struct{ name, raw, want string }{
		{"non-digit length", "1x:abc,", "length is not a decimal number"},
		{"empty length", ":abc,", "empty length"},
		{"leading zero", "012:postfix a.b,", "leading zero"},
		{"missing comma", "14:postfix a.testX", "missing comma"},
		{"over-long", "10001:", "longer than 10000"},
		{"huge length", "99999999999999999999:", "longer than 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := dial(t, dm)
			cl.send(netstring("postfix "+enforceDomain) + tc.raw)
			if got := cl.reply(); got != enforceReply {
				t.Errorf("request before the bad one: %q, want %q", got, enforceReply)
			}
			got := cl.reply()
			if !strings.HasPrefix(got, "PERM invalid request: netstring: ") || !strings.Contains(got, tc.want) {
				t.Errorf("reply %q, want PERM ... %s", got, tc.want)
			}
			cl.closed()
		})
	}
	if m := metricsText(dm); !strings.Contains(m, `stsmapd_bad_requests_total{kind="framing"} 6`) {
		t.Errorf("metrics:\n%s", m)
	}
}

// TestPipelining sends several requests in one write; the replies come in
// order, on one connection, and the connection stays usable.
func TestPipelining(t *testing.T) {
	w := newTestWorld(t)
	dm := startDaemon(t, testConfig(), w.deps())
	cl := dial(t, dm)
	reqs := []string{
		"postfix " + enforceDomain, "postfix " + nopolicyDomain, "postfix .enforce.test",
		"nozone " + enforceDomain, "postfix " + testingDomain, "postfix [" + enforceDomain + "]:25",
		"garbage",
	}
	want := []string{
		enforceReply, "NOTFOUND ", "NOTFOUND ", replyUnknownZone, "NOTFOUND ", enforceReply, replyNotRequest,
	}
	var raw strings.Builder
	for range 3 {
		for _, r := range reqs {
			raw.WriteString(netstring(r))
		}
	}
	cl.send(raw.String())
	for round := range 3 {
		for i, wnt := range want {
			if got := cl.reply(); got != wnt {
				t.Errorf("round %d, request %q: %q, want %q", round, reqs[i], got, wnt)
			}
		}
	}
	if got := cl.ask("postfix " + enforceDomain); got != enforceReply {
		t.Errorf("after the pipeline: %q", got)
	}
}

// TestKeyForms checks every form of next-hop key Postfix may look up.
func TestKeyForms(t *testing.T) {
	w := newTestWorld(t)
	dm := startDaemon(t, testConfig(), w.deps())
	cl := dial(t, dm)
	for _, tc := range []struct{ key, want string }{
		{enforceDomain, enforceReply},
		{"ENFORCE.Test", enforceReply},
		{"enforce.test.", enforceReply},
		{"[enforce.test]", enforceReply},
		{"[enforce.test]:25", enforceReply},
		{"[Enforce.Test.]:587", enforceReply},
		{"enforce.test:25", enforceReply},
		{".enforce.test", "NOTFOUND "}, // parent-domain retry
		{"..enforce.test", "NOTFOUND "},
		{"[192.0.2.1]", "NOTFOUND "},
		{"[192.0.2.1]:25", "NOTFOUND "},
		{"[ipv6:2001:db8::1]", "NOTFOUND "},
		{"192.0.2.1", "NOTFOUND "},
		{"2001:db8::1", "NOTFOUND "},
		{"", "NOTFOUND "},
		{"[enforce.test", "NOTFOUND "},
		{"[enforce.test]x", "NOTFOUND "},
		{"enforce.test:port", "NOTFOUND "},
		{"a." + strings.Repeat("b", 64) + ".test", "NOTFOUND "}, // 64-byte label
		{strings.Repeat("a.", 130) + "test", "NOTFOUND "},       // longer than 253
		{"bücher.test", "NOTFOUND "},                            // U-label: looked up as xn--bcher-kva.test
		{"\xff\xfe.test", "NOTFOUND "},                          // not UTF-8
		{"a b.test", "NOTFOUND "},
		{"exa\x00mple.test", "NOTFOUND "},
		{enforceDomain, enforceReply}, // still served after all that
	} {
		if got := cl.ask("postfix " + tc.key); got != tc.want {
			t.Errorf("key %q: %q, want %q", tc.key, got, tc.want)
		}
	}
}
