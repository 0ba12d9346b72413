package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
	// Standard output is the policy file, exactly.
	text := stdout.String()
	p, err := mtasts.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatalf("standard output is not a policy file: %v\n%q", err, text)
	}
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") || !strings.HasSuffix(text, "\r\n") {
		t.Errorf("the policy file has lines not ending in CRLF: %q", text)
	}
	if text != p.String() {
		t.Errorf("standard output %q is not the canonical policy %q", text, p.String())
	}
	// Standard error ends with the record.
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	rec := lines[len(lines)-1]
	m := recordLine.FindStringSubmatch(rec)
	if m == nil {
		t.Fatalf("record line %q is not in zone-file form; stderr:\n%s", rec, stderr.String())
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
		{[]string{"-mx", "mail.*.example.com"}, 1, `policygen: -mx "mail.*.example.com": mtasts: invalid MTA-STS policy: mx pattern "mail.*.example.com": the wildcard "*" is allowed only as the whole left-most label, as in *.example.com`},
		{[]string{"-mx", "192.0.2.1"}, 1, `"192.0.2.1" is an IP address; mx holds a host name`},
		{[]string{"-mx", "a.example.com,b.example.com"}, 1, "an mx field holds one host name"},
		{[]string{"-mode", "Enforce"}, 1, `mode "Enforce" is not enforce, testing or none`},
		{[]string{"-mode", "enforce", "-domain", "*.example.com"}, 1, "cannot be a wildcard"},
		{[]string{"-domain", "exa mple.com"}, 1, `policygen: -domain: mtasts: invalid domain name "exa mple.com"`},
		{[]string{"-mx", "mx.example.com", "-mx", "MX.Example.COM."}, 1, `policygen: -mx "MX.Example.COM.": given twice (the first time as "mx.example.com")`},
		{[]string{"-ttl", "4294967296"}, 1, "a TTL is at most 2147483647 seconds"},
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
		if !strings.Contains(stderr.String(), tc.wantErr) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("run(%q) stderr %q is not one line with %q", tc.args, stderr.String(), tc.wantErr)
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

// TestStdoutIsThePolicyFile: "policygen > mta-sts.txt" gives exactly the
// file to serve, no comment and no record in it.
func TestStdoutIsThePolicyFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-domain", "example.com", "-mode", "enforce", "-mx", "mx1.example.com", "-max-age", "1209600"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr %q", code, stderr.String())
	}
	const want = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 1209600\r\n"
	if stdout.String() != want {
		t.Errorf("stdout %q, want exactly %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "https://mta-sts.example.com/.well-known/mta-sts.txt") || !strings.Contains(stderr.String(), "RFC 8461 §8.1") {
		t.Errorf("stderr lacks the advice: %q", stderr.String())
	}
}

// TestOutputDir: -o writes the policy file and a zone fragment, replacing
// earlier ones, and nothing to standard output.
func TestOutputDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mta-sts.txt"), []byte("old and longer than the new policy file, to be replaced whole ......................................"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-domain", "example.org", "-mx", "mx.example.org", "-ttl", "300", "-o", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr %q", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
	policy, err := os.ReadFile(filepath.Join(dir, "mta-sts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mtasts.ParsePolicy(policy)
	if err != nil || string(policy) != p.String() {
		t.Fatalf("mta-sts.txt %q: %v", policy, err)
	}
	zone, err := os.ReadFile(filepath.Join(dir, "mta-sts.zone"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("_mta-sts.example.org. 300 IN TXT \"v=STSv1; id=%s\"\n", mtasts.PolicyID(p))
	if !strings.HasSuffix(string(zone), want) {
		t.Errorf("mta-sts.zone %q lacks %q", zone, want)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(zone), want), "\n") {
		if l != "" && !strings.HasPrefix(l, ";") {
			t.Errorf("mta-sts.zone: line %q is neither a comment nor the record", l)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the directory holds %d files, want 2 (no temporary file left)", len(entries))
	}
	if !strings.Contains(stderr.String(), "wrote "+filepath.Join(dir, "mta-sts.txt")) {
		t.Errorf("stderr %q", stderr.String())
	}
	// A directory that does not exist: an error, one line, no file.
	stderr.Reset()
	if code := run([]string{"-o", filepath.Join(dir, "nosuch")}, &stdout, &stderr); code != 1 || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("-o to a missing directory: run = %d, stderr %q", code, stderr.String())
	}
}

// TestDuplicateMX: the same pattern twice, in any spelling, is rejected;
// distinct ones are not.
func TestDuplicateMX(t *testing.T) {
	for _, mx := range [][]string{
		{"mx.example.com", "mx.example.com"},
		{"*.mail.example.com", "*.MAIL.example.com."},
		{"mx.bücher.example", "mx.xn--bcher-kva.example"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-mx", mx[0], "-mx", mx[1]}, &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "given twice") {
			t.Errorf("-mx %q -mx %q: run = %d, stderr %q", mx[0], mx[1], code, stderr.String())
		}
	}
	runOK(t, "-mx", "mx.example.com", "-mx", "*.example.com")
}

// TestBadDomainBlamed: a bad -domain is blamed on -domain, not on an mx
// pattern (the default mx is derived from it).
func TestBadDomainBlamed(t *testing.T) {
	for _, d := range []string{"exa mple.com", "example..com", "-example.com", ""} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-domain", d}, &stdout, &stderr)
		if code != 1 || !strings.HasPrefix(stderr.String(), "policygen: -domain") || strings.Contains(stderr.String(), "mx") {
			t.Errorf("-domain %q: run = %d, stderr %q", d, code, stderr.String())
		}
	}
}
