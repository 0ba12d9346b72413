package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// runFiles runs reportd on files and returns its output.
func runFiles(t *testing.T, want int, files ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), files, &out, &errOut); code != want {
		t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", files, code, want, errOut.String())
	}
	return out.String(), errOut.String()
}

// section returns the lines of out from the line starting with start up
// to the next line that is not indented.
func section(t *testing.T, out, start string) string {
	t.Helper()
	i := strings.Index(out, "\n"+start)
	if i < 0 {
		t.Fatalf("output has no section %q:\n%s", start, out)
	}
	rest := out[i+1:]
	end := 0
	for j, line := range strings.SplitAfter(rest, "\n") {
		if j > 0 && !strings.HasPrefix(line, " ") {
			break
		}
		end += len(line)
	}
	return rest[:end]
}

func TestRealWorldFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil || len(files) != 5 {
		t.Fatalf("testdata: %v, %v", files, err)
	}
	out, stderr := runFiles(t, 0, files...)
	if stderr != "" {
		t.Errorf("stderr: %s", stderr)
	}
	t.Log("\n" + out)

	// The RFC 8460 example came twice (JSON file and Stalwart's email).
	for _, want := range []string{
		"testdata/rfc8460-example-fixed.json: report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X for company-y.example\n",
		"testdata/stalwart-rpt01.eml: report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X for company-y.example (already counted)\n",
		"testdata/google-2024.eml: report 2024-09-03T00:00:00Z_cardinalhealth.ca from Google Inc. for cardinalhealth.ca\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	company := section(t, out, "2016-04-01  company-y.example  reported by Company-X (1)")
	for _, want := range []string{
		"sessions: 5629 (5326 successful, 303 failed)",
		"failures by result type:\n    starttls-not-supported                   200\n    certificate-expired                      100\n    validation-failure                       3\n",
		"failures by sending MTA:\n    2001:db8:abcd:13::1                      200\n    2001:db8:abcd:12::1                      100\n    198.51.100.62                            3\n",
		"failures by receiving MX:\n    mx2.mail.company-y.example               200\n",
	} {
		if !strings.Contains(company, want) {
			t.Errorf("company-y.example section lacks %q:\n%s", want, company)
		}
	}
	// Mail.ru: an exclusive end time (one day), details adding up to more
	// than the total.
	mailru := section(t, out, "2024-02-22  example.com  reported by Mail.ru (1)")
	for _, want := range []string{"sessions: 1 (0 successful, 1 failed)", "sts-policy-fetch-error                   2", "add up to 2, more than the 1 failed"} {
		if !strings.Contains(mailru, want) {
			t.Errorf("Mail.ru section lacks %q:\n%s", want, mailru)
		}
	}
	google := section(t, out, "2024-09-03  cardinalhealth.ca  reported by Google Inc. (1)")
	if !strings.Contains(google, "sessions: 48 (48 successful, 0 failed)") || strings.Contains(google, "failures") {
		t.Errorf("Google section:\n%s", google)
	}
	// A week-long report is one period.
	section(t, out, "2020-01-01 to 2020-01-07  example.com  reported by Google Inc. (1)")

	verdicts := section(t, out, "enforce readiness")
	for _, want := range []string{
		"cardinalhealth.ca: NO POLICY: senders found no MTA-STS policy in 48 sessions over 1 day",
		"company-y.example: NOT READY: 303 of 5629 sessions failed under mode testing over 1 day",
		"    MX mx2.mail.company-y.example, sending MTA 2001:db8:abcd:13::1: starttls-not-supported, 200 sessions\n" +
			"    MX mx1.mail.company-y.example, sending MTA 2001:db8:abcd:12::1: certificate-expired, 100 sessions\n" +
			"    MX mx-backup.mail.company-y.example, sending MTA 198.51.100.62: validation-failure, 3 sessions\n",
		"example.com: ENFORCED: already in mode enforce; 2 of 25 sessions over 2 days failed",
		"MX demo.example.com, sending MTA 123.123.123.123: certificate-host-mismatch, 1 session\n",
	} {
		if !strings.Contains(verdicts, want) {
			t.Errorf("verdicts lack %q:\n%s", want, verdicts)
		}
	}
}

func TestBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"policies": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notReport := filepath.Join(dir, "dsn.eml")
	if err := os.WriteFile(notReport, []byte("From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr := runFiles(t, 1, bad, "testdata/google-2024.eml", notReport)
	if !strings.Contains(stderr, "bad.json: ") || !strings.Contains(stderr, "dsn.eml: tlsrpt: no TLS report") {
		t.Errorf("stderr does not name the bad files:\n%s", stderr)
	}
	// The good file is still summarised.
	if !strings.Contains(out, "cardinalhealth.ca: NO POLICY") {
		t.Errorf("output:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-nosuchflag"},
		{"-addr", "0.0.0.0:0"}, // plain HTTP off loopback
		{"-addr", "127.0.0.1:0", "-cert", "x.pem"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("run(%q): nothing on stderr", args)
		}
	}
}

// server runs reportd with args plus -addr 127.0.0.1:0 until the test
// cancels it, and returns its base URL and a function that stops it and
// returns everything it printed.
func server(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, &errOut)
		pw.Close()
	}()
	var all bytes.Buffer
	sc := bufio.NewScanner(pr)
	var base string
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no listening line; output:\n%s", all.String())
	}
	collected := make(chan struct{})
	go func() {
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
		}
		close(collected)
	}()
	return strings.TrimSuffix(base, "/"), func() string {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run = %d; stderr:\n%s", code, errOut.String())
		}
		<-collected
		return all.String()
	}
}

// testingReport is a report for ready.example, whose testing policy saw
// no failures.
func testingReport(id string, ok int64) *tlsrpt.Report {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	return &tlsrpt.Report{
		OrganizationName: "Sender Org",
		DateRange:        tlsrpt.DateRange{Start: day, End: day.Add(24*time.Hour - time.Second)},
		ContactInfo:      "mailto:tlsrpt@sender.example",
		ReportID:         id,
		Policies: []tlsrpt.PolicyResult{{
			Policy: tlsrpt.AppliedPolicy{
				Type:         tlsrpt.PolicySTS,
				PolicyString: []string{"version: STSv1", "mode: testing", "mx: mx.ready.example", "max_age: 604800"},
				Domain:       "ready.example",
				MXHost:       []string{"mx.ready.example"},
			},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: ok},
		}},
	}
}

func post(t *testing.T, client *http.Client, url string, r *tlsrpt.Report) *http.Response {
	t.Helper()
	var body bytes.Buffer
	if err := tlsrpt.EncodeGzip(&body, r); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(url, tlsrpt.MediaTypeGzip, &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestPOST(t *testing.T) {
	base, stop := server(t, "testdata/stalwart-rpt01.eml")
	client := &http.Client{Timeout: 5 * time.Second}

	if resp := post(t, client, base+"/v1/tlsrpt", testingReport("r1@sender.example", 1200)); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s", resp.Status)
	}
	// The same report again counts once.
	if resp := post(t, client, base+"/v1/tlsrpt", testingReport("r1@sender.example", 1200)); resp.StatusCode != http.StatusOK {
		t.Fatalf("second POST: %s", resp.Status)
	}
	// Not a report.
	resp, err := client.Post(base+"/v1/tlsrpt", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST text/plain: %s, want 415", resp.Status)
	}

	resp, err = client.Get(base + "/summary")
	if err != nil {
		t.Fatal(err)
	}
	summary, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"2026-03-01  ready.example  reported by Sender Org (1)\n  sessions: 1200 (1200 successful, 0 failed)\n",
		"ready.example: READY: 1200 sessions under mode testing over 1 day, none failed",
		"company-y.example: NOT READY: 303 of 5629",
	} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("GET /summary lacks %q:\n%s", want, summary)
		}
	}

	out := stop()
	for _, want := range []string{
		"testdata/stalwart-rpt01.eml: report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X for company-y.example\n",
		"POST: report r1@sender.example from Sender Org for ready.example\n",
		"POST: report r1@sender.example from Sender Org for ready.example (already counted)\n",
		"ready.example: READY: 1200 sessions",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestHTTPS serves with a certificate and posts a report with a failure
// under testing.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir, "reportd.test")
	base, stop := server(t, "-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem"))
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base URL %q is not https", base)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "reportd.test"}}}
	r := testingReport("r2@sender.example", 10)
	r.Policies[0].Summary.TotalFailureSessionCount = 4
	r.Policies[0].FailureDetails = []tlsrpt.FailureDetail{{
		ResultType:          tlsrpt.ResultCertificateExpired,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.7"),
		ReceivingMXHostname: "mx.ready.example",
		FailedSessionCount:  4,
	}}
	if resp := post(t, client, base+"/tlsrpt", r); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s", resp.Status)
	}
	out := stop()
	want := "ready.example: NOT READY: 4 of 14 sessions failed under mode testing over 1 day; under enforce, mail would not be delivered to a failing MX host. Blocking:\n" +
		"    MX mx.ready.example, sending MTA 192.0.2.7: certificate-expired, 4 sessions\n"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// writeCert writes a certificate for name, issued by a new CA, and its
// key to dir/cert.pem and dir/key.pem, and returns a pool trusting the CA.
func writeCert(t *testing.T, dir, name string) *x509.CertPool {
	t.Helper()
	ca, err := world.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssuePEM(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca.Pool
}
