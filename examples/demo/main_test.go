package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// TestDemo runs the whole demo and checks the story it tells: each
// delivery decision, the fail-closed use of the cached policy, the report
// and its two deliveries.
func TestDemo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not empty:\n%s", stderr.String())
	}
	out := stdout.String()
	t.Log("\n" + out)

	// The decisions, in order.
	mismatch := "certificate-host-mismatch (X509_V_ERR_HOSTNAME_MISMATCH)"
	want := []string{
		"mode testing (policy file first, then TXT id",
		"message 1 to bob@example.com",
		"id %, mode testing, mx mx1.example.com mx2.example.com (fetched from https://mta-sts.example.com)",
		"[testing] mx1.example.com: " + mismatch + " -> deliver (failures are reported)",
		"=> delivered to mx1.example.com",
		"message 2 to bob@example.com",
		"mode testing, mx mx1.example.com mx2.example.com (cached, TXT id unchanged)",
		"[testing] mx1.example.com: " + mismatch + " -> deliver (failures are reported)",
		"=> delivered to mx1.example.com",
		"moves to mode enforce",
		"message 3 to bob@example.com",
		"mode enforce, mx mx1.example.com mx2.example.com (fetched from https://mta-sts.example.com)",
		"[enforce] mx1.example.com: " + mismatch + " -> skip (not delivered to this MX)",
		"[enforce] mx2.example.com: TLS 1.3, certificate valid -> deliver",
		"=> delivered to mx2.example.com",
		"mta-sts.example.com goes down",
		"message 4 to bob@example.com",
		"mode enforce, mx mx1.example.com mx2.example.com (cached, no live policy: still applied); TLS-RPT: sts-policy-fetch-error",
		"because: fetching https://mta-sts.example.com/.well-known/mta-sts.txt failed (network error)",
		"[enforce] mx1.example.com: " + mismatch + " -> skip (not delivered to this MX)",
		"[enforce] mx2.example.com: TLS 1.3, certificate valid; recorded as sts-policy-fetch-error (network error: connection refused): the policy could not be fetched -> deliver",
		"=> delivered to mx2.example.com",
		"a new UTC day: the TLS-RPT report for",
	}
	rest := out
	for _, w := range want {
		re := regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(w), "%", "[0-9a-f]{8}"))
		loc := re.FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("output lacks %q after the earlier lines", w)
		}
		rest = rest[loc[1]:]
	}

	// The report, printed as indented JSON.
	start := strings.Index(out, "\n{\n")
	end := strings.Index(out, "\n}\n")
	if start < 0 || end < start {
		t.Fatal("no JSON report in the output")
	}
	r, err := tlsrpt.ParseReport(strings.NewReader(out[start+1 : end+2]))
	if err != nil {
		t.Fatalf("the printed report does not parse: %v", err)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("the printed report is not valid: %v", err)
	}
	if got := r.DateRange.End.Sub(r.DateRange.Start).Hours(); got < 23.9 || got > 24 {
		t.Errorf("date range of %v hours, want one day", got)
	}
	type counts struct {
		ok, failed, mismatch, fetch int64
	}
	byMode := map[string]counts{}
	for _, p := range r.Policies {
		if p.Policy.Type != tlsrpt.PolicySTS || p.Policy.Domain != "example.com" {
			t.Errorf("policy %+v, want sts for example.com", p.Policy)
		}
		mode := ""
		for _, l := range p.Policy.PolicyString {
			if m, ok := strings.CutPrefix(l, "mode: "); ok {
				mode = m
			}
		}
		c := counts{ok: p.Summary.TotalSuccessfulSessionCount, failed: p.Summary.TotalFailureSessionCount}
		for _, d := range p.FailureDetails {
			switch d.ResultType {
			case tlsrpt.ResultCertificateHostMismatch:
				c.mismatch += d.FailedSessionCount
				if d.ReceivingMXHostname != "mx1.example.com" || d.SendingMTAIP.String() != "127.0.0.1" {
					t.Errorf("mismatch detail %+v, want mx1.example.com from 127.0.0.1", d)
				}
			case tlsrpt.ResultSTSPolicyFetchError:
				c.fetch += d.FailedSessionCount
				// Message 4: what actually failed is the policy fetch.
				if d.FailureReasonCode != "network error: connection refused" || d.ReceivingMXHostname != "mx2.example.com" {
					t.Errorf("fetch failure detail %+v, want the refused connection, at mx2.example.com", d)
				}
			default:
				t.Errorf("unexpected failure detail %+v", d)
			}
		}
		byMode[mode] = c
	}
	// Testing: two sessions with mx1, both failed. Enforce: message 3
	// fails with mx1 and succeeds with mx2; message 4 the same, but the
	// policy fetch failure is reported for the session with mx2.
	if got, want := byMode["testing"], (counts{ok: 0, failed: 2, mismatch: 2}); got != want {
		t.Errorf("testing policy: %+v, want %+v", got, want)
	}
	if got, want := byMode["enforce"], (counts{ok: 1, failed: 3, mismatch: 2, fetch: 1}); got != want {
		t.Errorf("enforce policy: %+v, want %+v", got, want)
	}

	// Both destinations got it.
	summary := "1 successful, 5 failed sessions (4 certificate-host-mismatch, 1 sts-policy-fetch-error: network error: connection refused)"
	for _, w := range []string{
		"delivering it to the rua of _smtp._tls.example.com: https://tlsrpt.example.com/v1/tlsrpt, mailto:tlsrpt@example.com",
		"https://tlsrpt.example.com received report " + r.ReportID + " by POST: " + summary,
		"tlsrpt@example.com received at mx1.example.com an email with report " + r.ReportID + ": " + summary,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("run(extra) = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "usage: demo") {
		t.Errorf("no usage on stderr: %q", stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-nosuchflag"}, &stdout, &stderr); code != 2 {
		t.Errorf("run(-nosuchflag) = %d, want 2", code)
	}
}
