package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// TestMain runs the program itself when the test binary is started as
// reportd by a test (the SIGKILL test needs a real process).
func TestMain(m *testing.M) {
	if os.Getenv("REPORTD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// testNow is the clock of the in-process runs: the reports of the tests
// are dated 2026-03-01, within the chart's 30 days.
func testNow() time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC) }

// runFiles runs reportd on args and returns its output.
func runFiles(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runClock(t.Context(), args, &out, &errOut, testNow); code != want {
		t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", args, code, want, errOut.String())
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
		"testdata/stalwart-rpt01.eml: report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X for company-y.example (1 finding) (already stored)\n",
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
		"    evidence: Company-X (testing, 1 report, 100%)\n",
		"example.com: ENFORCED: already in mode enforce; 2 of 25 sessions over 2 days failed",
		"MX demo.example.com, sending MTA 123.123.123.123: certificate-host-mismatch, 1 session\n",
		"    evidence: Google Inc. (enforce, 1 report, 96%); Mail.ru (unknown, 1 report, 4%)\n",
	} {
		if !strings.Contains(verdicts, want) {
			t.Errorf("verdicts lack %q:\n%s", want, verdicts)
		}
	}
}

// TestValidateFindingsShown: the findings Validate lists are shown per
// report ("the findings Validate would list are never shown").
func TestValidateFindingsShown(t *testing.T) {
	out, _ := runFiles(t, 0, "testdata/mailru.json")
	findings := section(t, out, "findings of the recent reports")
	for _, want := range []string{
		"report b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru from Mail.ru: policies[0].policy.policy-string: missing for policy type sts",
		"policies[0].failure-details[0].sending-mta-ip: missing",
	} {
		if !strings.Contains(findings, want) {
			t.Errorf("findings lack %q:\n%s", want, findings)
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

// TestFormatFromContent: a file's format is told from its bytes, not
// from its extension ("the format of a file is chosen by its extension
// only").
func TestFormatFromContent(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	if err := tlsrpt.EncodeGzip(&gz, testingReport("gz-named-json", 5)); err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(testingReport("json-named-gz", 6))
	if err != nil {
		t.Fatal(err)
	}
	email, err := os.ReadFile("testdata/google-2024.eml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a.json": gz.Bytes(), "b.json.gz": plain, "c.json": email, "d": plain[:0:0]}
	files["d"] = append([]byte("  \n"), plain...) // leading white space, no extension
	var args []string
	for _, name := range []string{"a.json", "b.json.gz", "c.json", "d"} {
		data := files[name]
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, stderr := runFiles(t, 0, args...)
	for _, want := range []string{"a.json: report gz-named-json", "b.json.gz: report json-named-gz", "c.json: report 2024-09-03T00:00:00Z_cardinalhealth.ca", "d: report json-named-gz from Sender Org for ready.example (already stored)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; stderr:\n%s\nout:\n%s", want, stderr, out)
		}
	}
}

// TestUnknownModeIsNotTesting: a report without policy-string does not
// say the policy's mode ("a report without mode information is judged as
// testing").
func TestUnknownModeIsNotTesting(t *testing.T) {
	dir := t.TempDir()
	var args []string
	for i, org := range []string{"Org A", "Org B"} {
		r := testingReport(fmt.Sprintf("no-mode-%d", i), 100)
		r.OrganizationName = org
		r.Policies[0].Policy.PolicyString = nil
		args = append(args, writeReport(t, dir, r))
	}
	out, _ := runFiles(t, 0, args...)
	if !strings.Contains(out, "ready.example: UNKNOWN MODE: 200 sessions under an MTA-STS policy whose mode the reporters did not say") {
		t.Errorf("output:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "usage: reportd"},
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
		{[]string{"-addr", "0.0.0.0:0", "-data", "x"}, "plain HTTP only on a loopback address"},
		{[]string{"-addr", "127.0.0.1:0", "-cert", "x.pem"}, "-cert and -key go together"},
		// "-cert without -addr prints only the usage"
		{[]string{"-cert", "x.pem", "-key", "y.pem", "file.json"}, "-cert and -key are for HTTPS: give -addr too"},
		{[]string{"-addr", "127.0.0.1:0"}, "-addr needs -data"},
		{[]string{"-data", "x", "-max-inflight", "0"}, "-max-inflight and -max-conns must be positive"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), tt.args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tt.args, code)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("run(%q): stderr %q lacks %q", tt.args, errOut.String(), tt.want)
		}
	}
}

// writeReport writes r as JSON to dir and returns the file's name.
func writeReport(t *testing.T, dir string, r *tlsrpt.Report) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "_", "@", "_").Replace(r.ReportID)+".json")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// testServer is reportd running in the test's process.
type testServer struct {
	base   string
	client *http.Client
	mu     sync.Mutex
	out    bytes.Buffer // everything printed so far
	lines  chan string  // each line printed after the listening line
	cancel func()       // SIGTERM
	stop   func() string
}

// output returns what the server printed so far.
func (s *testServer) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitLine waits for a line printed containing substr.
func (s *testServer) waitLine(t *testing.T, substr string) {
	t.Helper()
	for line := range s.lines {
		if strings.Contains(line, substr) {
			return
		}
	}
	t.Fatalf("no line %q printed:\n%s", substr, s.output())
}

// server runs reportd with args plus -addr 127.0.0.1:0 until the test
// calls stop, which returns everything it printed.
func server(t *testing.T, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errOut := &syncWriter{w: new(bytes.Buffer)}
	done := make(chan int, 1)
	go func() {
		done <- runClock(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, errOut, testNow)
		pw.Close()
	}()
	s := &testServer{client: &http.Client{Timeout: 30 * time.Second}, lines: make(chan string, 1<<16), cancel: cancel}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		s.out.WriteString(sc.Text() + "\n")
		if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			s.base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if s.base == "" {
		cancel()
		t.Fatalf("no listening line; output:\n%s\nstderr:\n%s", s.out.String(), errOut.String())
	}
	s.base = strings.TrimSuffix(s.base, "/")
	collected := make(chan struct{})
	go func() {
		for sc.Scan() {
			s.mu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		close(s.lines)
		close(collected)
	}()
	var once sync.Once
	var all string
	s.stop = func() string {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("run = %d; stderr:\n%s", code, errOut.String())
			}
			<-collected
			all = s.output()
		})
		return all
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// String returns what was written to s, a *bytes.Buffer.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
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

func gzipReport(t testing.TB, r *tlsrpt.Report) []byte {
	t.Helper()
	var body bytes.Buffer
	if err := tlsrpt.EncodeGzip(&body, r); err != nil {
		t.Fatal(err)
	}
	return body.Bytes()
}

// postBody POSTs body and returns the status and the answer's text.
func postBody(t testing.TB, client *http.Client, url, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := client.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(text)
}

func post(t testing.TB, client *http.Client, url string, r *tlsrpt.Report) (int, string) {
	t.Helper()
	return postBody(t, client, url, tlsrpt.MediaTypeGzip, gzipReport(t, r))
}

func get(t testing.TB, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

func TestPOST(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-retention-days", "5000", "testdata/stalwart-rpt01.eml")

	if code, text := post(t, s.client, s.base+"/v1/tlsrpt", testingReport("r1@sender.example", 1200)); code != http.StatusOK || text != "report stored\n" {
		t.Fatalf("POST: %d %q", code, text)
	}
	// The same report again counts once.
	if code, text := post(t, s.client, s.base+"/v1/tlsrpt", testingReport("r1@sender.example", 1200)); code != http.StatusOK || text != "report already stored\n" {
		t.Fatalf("second POST: %d %q", code, text)
	}
	// Not a report.
	if code, _ := postBody(t, s.client, s.base+"/v1/tlsrpt", "text/plain", []byte("hello")); code != http.StatusUnsupportedMediaType {
		t.Errorf("POST text/plain: %d, want 415", code)
	}
	// A second reporter makes the domain READY.
	r := testingReport("r2@other.example", 800)
	r.OrganizationName = "Other Org"
	if code, text := post(t, s.client, s.base+"/v1/tlsrpt", r); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, text)
	}

	summary := get(t, s.client, s.base+"/summary")
	for _, want := range []string{
		"2026-03-01  ready.example  reported by Other Org (1), Sender Org (1)\n  sessions: 2000 (2000 successful, 0 failed)\n",
		"ready.example: READY: 2000 sessions under mode testing over 1 day from 2 reporters, none failed",
		"evidence: Sender Org (testing, 1 report, 60%); Other Org (testing, 1 report, 40%)",
		"company-y.example: NOT READY: 303 of 5629",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("GET /summary lacks %q:\n%s", want, summary)
		}
	}

	out := s.stop()
	for _, want := range []string{
		"testdata/stalwart-rpt01.eml: report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X for company-y.example (1 finding)\n",
		": report stored: report r1@sender.example from Sender Org for ready.example\n",
		": report already stored: report r1@sender.example from Sender Org for ready.example\n",
		"ready.example: READY: 2000 sessions",
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
	s := server(t, "-data", filepath.Join(dir, "data"), "-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem"))
	if !strings.HasPrefix(s.base, "https://") {
		t.Fatalf("base URL %q is not https", s.base)
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
	if code, text := post(t, client, s.base+"/tlsrpt", r); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, text)
	}
	out := s.stop()
	want := "ready.example: NOT READY: 4 of 14 sessions failed under mode testing over 1 day; under enforce, mail would not be delivered to a failing MX host\n" +
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
