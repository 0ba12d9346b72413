package main

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/mtasts"
)

// TestDNSFlagWithoutPort: "-dns 127.0.0.1 (no port) is not rejected at
// start and becomes four findings".
func TestDNSFlagWithoutPort(t *testing.T) {
	for _, tt := range []struct{ args []string }{
		{[]string{"-dns", "127.0.0.1", "example.com"}},
		{[]string{"-dns", "127.0.0.1:", "example.com"}},
		{[]string{"-dns", "127.0.0.1:99999", "example.com"}},
		{[]string{"-dns", ":53", "example.com"}},
		{[]string{"-smtp-port", "smtp", "example.com"}},
		{[]string{"-timeout", "0s", "example.com"}},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), tt.args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tt.args, code)
		}
		if stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "check: -") {
			t.Errorf("run(%q): stdout %q, stderr %q, want one line of reason", tt.args, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	run(t.Context(), []string{"-dns", "127.0.0.1", "example.com"}, &stdout, &stderr)
	if want := "check: -dns \"127.0.0.1\": want host:port, such as 127.0.0.1:53 ([::1]:53 for IPv6)\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// TestResolverDown: "with -dns 127.0.0.1:1 the message names the system
// resolver instead of the one asked" and "offline, every domain has no
// MX records".
func TestResolverDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := pc.LocalAddr().String()
	pc.Close()
	out := runCheck(t, 1, "-dns", down, "-no-starttls", "-timeout", "5s", "example.com")
	assertContains(t, out, "  error   dns-resolver-failed ("+down+")\n", "the resolver "+down+" did not answer")
	for _, bad := range []string{"has no MX records", "make the domain's name servers", "txt-lookup-failed", "mx-missing"} {
		if strings.Contains(out, bad) {
			t.Errorf("output blames the domain (%q):\n%s", bad, out)
		}
	}
}

// TestDomainMissing: a domain that does not exist is said not to exist.
func TestDomainMissing(t *testing.T) {
	_, args := newWorld(t, mtasts.ModeEnforce, "mx1.example.com")
	out := runCheck(t, 1, append(args, "-no-starttls", "nosuch.example")...)
	assertContains(t, out, "  error   domain-missing (nosuch.example)\n", "nosuch.example does not exist: the resolver ")
	if strings.Contains(out, "mx-missing") || strings.Contains(out, "txt-missing") {
		t.Errorf("output:\n%s", out)
	}
}

// TestReportEscapes: "examples/check prints certificate names with ESC
// sequences and newlines raw".
func TestReportEscapes(t *testing.T) {
	evil := "mx.example.com\n\nOK: senders can apply the MTA-STS policy of example.com\x1b[2J"
	certErr := errors.New("x509: bad\x1b]0;title\x07")
	res := &inspect.Result{
		Domain:                "example.com",
		CheckedAt:             time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		PolicyURL:             "https://mta-sts.example.com/.well-known/mta-sts.txt",
		TXTDelegatedTo:        "_mta-sts.provider.example",
		PolicyHostDelegatedTo: "mta-sts.provider.example",
		TXT:                   []string{"v=STSv1; id=1\x1b[31m"},
		MX: []inspect.MXHost{{
			Host: "mx.example.com\r\nFAKE", Preference: 10, Probed: true, STARTTLS: true, TLSVersion: "TLS 1.3",
			Certificate: &inspect.Certificate{DNSNames: []string{evil}, Error: certErr.Error(), Err: certErr},
			Error:       "then\x1b[1A",
		}},
		Findings: []inspect.Finding{{Severity: inspect.SeverityError, Code: "cert-name-mismatch", Subject: evil, Message: "bad " + evil, Fix: "fix\x1b[0m"}},
	}
	var b bytes.Buffer
	writeReport(&b, res)
	out := b.String()
	if strings.ContainsAny(out, "\x1b\x07\r") {
		t.Errorf("raw control characters in:\n%q", out)
	}
	if strings.Count(out, "\nOK: ") != 0 || strings.Contains(out, "\nFAKE") {
		t.Errorf("forged lines in:\n%s", out)
	}
	assertContains(t, out,
		`certificate for mx.example.com\n\nOK: senders can apply the MTA-STS policy of example.com\x1b[2J, valid until`,
		"  delegated: CNAME to _mta-sts.provider.example (RFC 8461 §8.2)\n",
		"  policy host delegated: mta-sts.example.com is a CNAME to mta-sts.provider.example (RFC 8461 §8.2)\n",
	)
}
