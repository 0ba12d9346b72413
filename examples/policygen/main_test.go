package main

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// output is what run printed, split into its two parts.
type output struct {
	policy *mtasts.Policy
	text   string // the policy file, exactly
	record string // the zone-file line
}

var recordLine = regexp.MustCompile(`^_mta-sts\.([a-z0-9.-]+)\. (\d+) IN TXT "(v=STSv1; id=[0-9a-f]{32})"$`)

func runOK(t *testing.T, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("run(%q) = %d, stderr:\n%s", args, code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("run(%q) wrote to stderr: %s", args, stderr.String())
	}
	out := stdout.String()
	// The policy file is everything between the two comment blocks.
	start := strings.Index(out, "(lines end with CRLF).\n")
	end := strings.Index(out, "\n# DNS record")
	if start < 0 || end < 0 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	text := out[start+len("(lines end with CRLF).\n") : end]
	p, err := mtasts.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatalf("the printed policy does not parse: %v\n%q", err, text)
	}
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
		t.Errorf("the policy file has lines not ending in CRLF: %q", text)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	rec := lines[len(lines)-1]
	m := recordLine.FindStringSubmatch(rec)
	if m == nil {
		t.Fatalf("record line %q is not in zone-file form", rec)
	}
	r, err := mtasts.SelectRecord([]string{m[3]})
	if err != nil {
		t.Fatalf("the printed record does not parse: %v", err)
	}
	if want := mtasts.PolicyID(p); r.ID != want {
		t.Errorf("record id %q does not belong to the printed policy (want %q)", r.ID, want)
	}
	return output{policy: p, text: text, record: rec}
}

func TestIssueCommand(t *testing.T) {
	out := runOK(t, "-domain", "example.com", "-mode", "testing", "-mx", "mx1.example.com", "-mx", "*.mail.example.com", "-max-age", "604800")
	const wantText = "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n"
	if out.text != wantText {
		t.Errorf("policy file\n got %q\nwant %q", out.text, wantText)
	}
	if !strings.HasPrefix(out.record, `_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=`) {
		t.Errorf("record line %q", out.record)
	}
}

func TestDefaults(t *testing.T) {
	out := runOK(t)
	want := &mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"mail.example.com"}, MaxAge: 7 * 24 * time.Hour}
	if !reflect.DeepEqual(out.policy, want) {
		t.Errorf("default policy %#v, want %#v", out.policy, want)
	}
	if !strings.HasPrefix(out.record, "_mta-sts.example.com. 3600 IN TXT ") {
		t.Errorf("record line %q", out.record)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		args       []string
		want       *mtasts.Policy
		recordName string
		ttl        string
	}{
		{[]string{"-domain", "Bücher.Example.", "-mode", "enforce", "-max-age", "86400", "-ttl", "300"},
			&mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.xn--bcher-kva.example"}, MaxAge: 24 * time.Hour}, "xn--bcher-kva.example", "300"},
		{[]string{"-domain", "example.org", "-mode", "none", "-max-age", "0"},
			&mtasts.Policy{Mode: mtasts.ModeNone}, "example.org", "3600"},
		{[]string{"-domain", "example.org", "-mode", "enforce", "-mx", "MX.Bücher.example", "-mx", "mx2.example.org."},
			&mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.xn--bcher-kva.example", "mx2.example.org"}, MaxAge: 7 * 24 * time.Hour}, "example.org", "3600"},
		{[]string{"-max-age", "31557600"},
			&mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"mail.example.com"}, MaxAge: mtasts.MaxMaxAge}, "example.com", "3600"},
	}
	for _, tc := range tests {
		out := runOK(t, tc.args...)
		if !reflect.DeepEqual(out.policy, tc.want) {
			t.Errorf("run(%q): policy %#v, want %#v", tc.args, out.policy, tc.want)
		}
		m := recordLine.FindStringSubmatch(out.record)
		if m[1] != tc.recordName || m[2] != tc.ttl {
			t.Errorf("run(%q): record line %q, want name %s and TTL %s", tc.args, out.record, tc.recordName, tc.ttl)
		}
	}
}

func TestIDFollowsContent(t *testing.T) {
	a := runOK(t, "-mode", "testing")
	b := runOK(t, "-mode", "enforce")
	c := runOK(t, "-mode", "testing")
	if a.record == b.record {
		t.Errorf("changing the mode kept the record %q", a.record)
	}
	if a.record != c.record {
		t.Errorf("the same policy gave two records: %q and %q", a.record, c.record)
	}
}

func TestInvalidInput(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"-mx", "mail.*.example.com"}, 1, `policygen: mtasts: invalid MTA-STS policy: mx pattern "mail.*.example.com": the wildcard "*" is allowed only as the whole left-most label, as in *.example.com`},
		{[]string{"-mx", "192.0.2.1"}, 1, "192.0.2.1 is an IP address; mx holds a host name"},
		{[]string{"-mx", "a.example.com,b.example.com"}, 1, "an mx field holds one host name"},
		{[]string{"-mode", "Enforce"}, 1, `mode "Enforce" is not enforce, testing or none`},
		{[]string{"-mode", "enforce", "-domain", "*.example.com"}, 1, "cannot be a wildcard"},
		{[]string{"-domain", "exa mple.com"}, 1, "whitespace inside the host name"},
		{[]string{"-max-age", "31557601"}, 1, "max_age must be from 0 to 31557600 seconds"},
		{[]string{"-max-age", "-1"}, 1, "max_age must be from 0 to 31557600 seconds"},
		{[]string{"-max-age", "1w"}, 2, `invalid value "1w" for flag -max-age`},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"example.com"}, 2, `unexpected argument "example.com"`},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("run(%q) = %d, want %d", tc.args, code, tc.code)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) printed %q", tc.args, stdout.String())
		}
		if !strings.Contains(stderr.String(), tc.wantErr) {
			t.Errorf("run(%q) stderr %q does not contain %q", tc.args, stderr.String(), tc.wantErr)
		}
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("run(-h) = %d", code)
	}
	if !strings.Contains(stderr.String(), "usage: policygen") || !strings.Contains(stderr.String(), "-max-age") {
		t.Errorf("usage: %q", stderr.String())
	}
}

func TestQuoteTXT(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct{ in, want string }{
		{"v=STSv1; id=abc", `"v=STSv1; id=abc"`},
		{`v=STSv1; id=a; x="\`, `"v=STSv1; id=a; x=\"\\"`},
		{"", `""`},
		{long, `"` + long[:255] + `" "` + long[255:] + `"`},
	}
	for _, tc := range tests {
		if got := quoteTXT(tc.in); got != tc.want {
			t.Errorf("quoteTXT(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
