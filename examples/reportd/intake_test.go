package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// TestEmptyOrNonReportRefused: "{} is accepted with 200 report accepted
// and counted as a report from (unknown)".
func TestEmptyOrNonReportRefused(t *testing.T) {
	s := server(t, "-data", t.TempDir())
	for _, tt := range []struct {
		body, ctype, want string
	}{
		{`{}`, tlsrpt.MediaTypeJSON, "not a TLS report: no organization-name, report-id, date-range, policies (RFC 8460 §4.4)"},
		{``, tlsrpt.MediaTypeJSON, "empty body"},
		{"  \r\n", tlsrpt.MediaTypeGzip, "empty body"},
		{`hello`, tlsrpt.MediaTypeJSON, `neither gzip nor a JSON object (the body begins "hello")`},
		{`[1,2]`, tlsrpt.MediaTypeJSON, "neither gzip nor a JSON object"},
		{"\x1f\x8bnot gzip", tlsrpt.MediaTypeGzip, "tlsrpt: invalid report"},
		{`{"organization-name":"A","report-id":"x","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
			tlsrpt.MediaTypeJSON, "policies[0]: no policy-domain"},
	} {
		code, text := postBody(t, s.client, s.base+"/", tt.ctype, []byte(tt.body))
		if code != http.StatusBadRequest || !strings.Contains(text, tt.want) || strings.Count(text, "\n") != 1 {
			t.Errorf("POST %q: %d %q, want 400 with %q on one line", tt.body, code, text, tt.want)
		}
	}
	if got := get(t, s.client, s.base+"/summary"); got != "no reports\n" {
		t.Errorf("summary after refused bodies:\n%s", got)
	}
}

// failingReport is a report of org for ready.example with failures under
// mode testing.
func failingReport(id, org string, failed int64) *tlsrpt.Report {
	r := testingReport(id, 100)
	r.OrganizationName = org
	r.Policies[0].Summary.TotalFailureSessionCount = failed
	r.Policies[0].FailureDetails = []tlsrpt.FailureDetail{{
		ResultType:          tlsrpt.ResultCertificateExpired,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.7"),
		ReceivingMXHostname: "mx.ready.example",
		FailedSessionCount:  failed,
	}}
	return r
}

// TestNegativeCountRefused: "a report with a negative session count
// flips NOT READY to READY".
func TestNegativeCountRefused(t *testing.T) {
	s := server(t, "-data", t.TempDir())
	if code, text := post(t, s.client, s.base+"/", failingReport("real", "Real Org", 5)); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, text)
	}
	for _, n := range []int64{-5, 1 << 62} {
		forged := failingReport(fmt.Sprint("forged", n), "Forger", n)
		forged.Policies[0].FailureDetails = nil
		code, text := post(t, s.client, s.base+"/", forged)
		// tlsrpt refuses a negative count as it decodes; reportd a count
		// past its own cap.
		if code != http.StatusBadRequest || !strings.Contains(text, "total-failure-session-count: ") ||
			!strings.Contains(text, "is not a session count") && !strings.Contains(text, "negative count") {
			t.Errorf("count %d: %d %q, want 400", n, code, text)
		}
	}
	// A detail's count, too.
	forged := failingReport("forged-detail", "Forger", 0)
	forged.Policies[0].FailureDetails[0].FailedSessionCount = -1
	if code, text := post(t, s.client, s.base+"/", forged); code != http.StatusBadRequest || !strings.Contains(text, "failure-details[0].failed-session-count") {
		t.Errorf("negative detail: %d %q", code, text)
	}
	if got := get(t, s.client, s.base+"/summary"); !strings.Contains(got, "ready.example: NOT READY: 5 of 105 sessions failed") {
		t.Errorf("summary:\n%s", got)
	}
}

// TestOneReporterCannotMakeReady: reports over HTTPS are
// unauthenticated; however many reports one reporter sends, it alone
// never makes a domain READY.
func TestOneReporterCannotMakeReady(t *testing.T) {
	s := server(t, "-data", t.TempDir())
	for i := range 3 {
		if code, text := post(t, s.client, s.base+"/", testingReport(fmt.Sprint("one-", i), 1000)); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, text)
		}
	}
	got := get(t, s.client, s.base+"/summary")
	if !strings.Contains(got, "ready.example: NOT READY: 3000 sessions under mode testing over 1 day, none failed, but from 1 reporter; reports are unauthenticated (RFC 8460 §5.4): wait for reports from 2 reporters") {
		t.Errorf("summary:\n%s", got)
	}
	// A domain with failures stays NOT READY whatever a second reporter
	// adds.
	if code, _ := post(t, s.client, s.base+"/", failingReport("fail", "Other Org", 1)); code != http.StatusOK {
		t.Fatal(code)
	}
	big := testingReport("big", 1<<39)
	big.OrganizationName = "Third Org"
	if code, _ := post(t, s.client, s.base+"/", big); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := get(t, s.client, s.base+"/summary"); !strings.Contains(got, "ready.example: NOT READY: 1 of ") {
		t.Errorf("summary:\n%s", got)
	}
}

// TestSameLimitForJSONAndGzip: "plain JSON is capped at 10 MiB while
// gzip may expand to 50 MiB": one -max-size bounds both.
func TestSameLimitForJSONAndGzip(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-max-size", "4096")
	r := testingReport("big", 1)
	r.Policies[0].Policy.PolicyString = append(r.Policies[0].Policy.PolicyString, "x-pad: "+strings.Repeat("a", 5000))
	plain, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzipReport(t, r)
	if len(gz) > 4096 {
		t.Fatalf("gzip of %d bytes", len(gz))
	}
	for name, body := range map[string][]byte{"json": plain, "gzip": gz} {
		code, text := postBody(t, s.client, s.base+"/", tlsrpt.MediaTypeGzip, body)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s of %d bytes: %d %q, want 413", name, len(body), code, text)
		}
	}
	if code, text := post(t, s.client, s.base+"/", testingReport("small", 1)); code != http.StatusOK {
		t.Errorf("small report: %d %q", code, text)
	}
}

// TestKeepDoesNotPin: "every report's text stays pinned by the map keys
// of the summary": what is kept shares no byte with the decoded text.
func TestKeepDoesNotPin(t *testing.T) {
	r := failingReport("id-1", "Some Org", 3)
	r.Policies[0].Policy.PolicyString = append(r.Policies[0].Policy.PolicyString, "x-pad: "+strings.Repeat("a", 1<<20))
	text, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := tlsrpt.ParseReport(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	kept := decoded.Clone()
	strs := []string{kept.OrganizationName, kept.ReportID, kept.ContactInfo, kept.Policies[0].Policy.Domain,
		kept.Policies[0].FailureDetails[0].ReceivingMXHostname, string(kept.Policies[0].FailureDetails[0].ResultType)}
	strs = append(strs, kept.Policies[0].Policy.PolicyString...)
	strs = append(strs, kept.Policies[0].Policy.MXHost...)
	orig := []string{decoded.OrganizationName, decoded.ReportID, decoded.Policies[0].Policy.Domain, decoded.Policies[0].Policy.PolicyString[4]}
	for _, k := range strs {
		for _, o := range orig {
			if len(k) > 0 && len(o) > 0 && overlaps(k, o) {
				t.Errorf("kept %.20q shares memory with the decoded %.20q", k, o)
			}
		}
	}
	if kept.OrganizationName != "Some Org" || kept.Policies[0].FailureDetails[0].FailedSessionCount != 3 {
		t.Errorf("kept: %+v", kept)
	}
}

// overlaps reports whether the bytes of a and b overlap in memory.
func overlaps(a, b string) bool {
	pa, pb := uintptr(unsafe.Pointer(unsafe.StringData(a))), uintptr(unsafe.Pointer(unsafe.StringData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// TestGzipBombRefused: "45 POSTs of 50 KB gzips (each 49 MiB of JSON)":
// each is refused at -max-size of JSON, and nothing is kept.
func TestGzipBombRefused(t *testing.T) {
	s := server(t, "-data", t.TempDir())
	// 49 MiB of JSON as gzip members of 1 MiB each (the decoder reads
	// multi-member streams), cheap to build.
	member := func(parts ...string) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		for _, p := range parts {
			zw.Write([]byte(p))
		}
		zw.Close()
		return b.Bytes()
	}
	mib := strings.Repeat("a", 1<<20)
	var gz bytes.Buffer
	gz.Write(member(`{"organization-name":"`, mib))
	middle := member(mib)
	for range 47 {
		gz.Write(middle)
	}
	gz.Write(member(mib, `"}`))
	for range 2 {
		if code, text := postBody(t, s.client, s.base+"/", tlsrpt.MediaTypeGzip, gz.Bytes()); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("gzip bomb of %d bytes: %d %q", gz.Len(), code, text)
		}
	}
	if n, _ := s.storeUsage(t); n != 0 {
		t.Errorf("%d reports stored", n)
	}
}

// storeUsage reads the stored reports count and bytes from the JSON
// summary.
func (s *testServer) storeUsage(t *testing.T) (int, int64) {
	t.Helper()
	var sum summary
	if err := json.Unmarshal([]byte(get(t, s.client, s.base+"/api/summary")), &sum); err != nil {
		t.Fatal(err)
	}
	return sum.Reports, sum.Bytes
}

// TestEscapedOutput: "report-ids, organisation names and domains
// containing \n and ESC sequences are printed raw, forging log lines and
// verdicts".
func TestEscapedOutput(t *testing.T) {
	dir := t.TempDir()
	s := server(t, "-data", dir, "-min-reporters", "1")
	r := failingReport("id\x1b]0;owned\x07\nPOST from 127.0.0.1:1: report stored", "Evil\n  victim.example: READY: 1 session\x1b[2J<script>alert(1)</script>", 2)
	r.Policies[0].Policy.Domain = "ready.example\n  victim.example: READY: publish mode enforce"
	r.Policies[0].FailureDetails[0].ReceivingMXHostname = "mx\x1b[31m.example\r\n"
	if code, text := post(t, s.client, s.base+"/", r); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, text)
	}
	page := get(t, s.client, s.base+"/")
	text := get(t, s.client, s.base+"/summary")
	out := s.stop()
	for name, got := range map[string]string{"stdout": out, "GET /summary": text} {
		if strings.ContainsAny(got, "\x1b\x07\r") {
			t.Errorf("%s has a raw control character:\n%q", name, got)
		}
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "victim.example") || strings.HasPrefix(line, "POST from 127.0.0.1:1") {
				t.Errorf("%s has a forged line %q", name, line)
			}
		}
	}
	if !strings.Contains(out, `ready.example\n  victim.example: ready: publish mode enforce: NOT READY`) {
		t.Errorf("stdout lacks the escaped domain:\n%s", out)
	}
	doc := parseHTML(t, page)
	if n := len(findAll(doc, "script")); n != 0 {
		t.Errorf("dashboard has %d script elements", n)
	}
	if !strings.Contains(textOf(doc), "<script>alert(1)</script>") {
		t.Errorf("dashboard does not show the organization name as text")
	}
}

// TestInflightCapped: "32 concurrent such POSTs reached 3 GB (no limit
// on requests in flight)".
func TestInflightCapped(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-max-inflight", "2")
	addr := strings.TrimPrefix(s.base, "http://")
	for range 2 {
		c := startPOST(t, addr, 100)
		defer c.Close()
	}
	code, text := post(t, s.client, s.base+"/", testingReport("third", 1))
	if code != http.StatusServiceUnavailable || !strings.Contains(text, "too many reports being received at once") {
		t.Errorf("third POST: %d %q, want 503", code, text)
	}
}

// startPOST opens a connection to addr and sends the headers of a POST
// with a body of n bytes and Expect: 100-continue, and returns once the
// server's handler reads the body (it answers 100 Continue then): the
// request is in flight.
func startPOST(t *testing.T, addr string, n int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/tlsrpt HTTP/1.1\r\nHost: reportd\r\nContent-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", tlsrpt.MediaTypeGzip, n)
	buf := make([]byte, len("HTTP/1.1 100 Continue\r\n\r\n"))
	if _, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 100 Continue") {
		t.Fatalf("no 100 Continue: %q, %v", buf, err)
	}
	return c
}

// TestStoreFull: past -max-reports intake is refused with 507, and
// nothing stored is pushed out.
func TestStoreFull(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-max-reports", "2")
	for i := range 2 {
		if code, _ := post(t, s.client, s.base+"/", testingReport(fmt.Sprint("r", i), 1)); code != http.StatusOK {
			t.Fatal(code)
		}
	}
	code, text := post(t, s.client, s.base+"/", testingReport("r2", 1))
	if code != http.StatusInsufficientStorage || !strings.Contains(text, "store is full") {
		t.Errorf("POST to a full store: %d %q, want 507", code, text)
	}
	// A copy of a stored report is still acknowledged.
	if code, text := post(t, s.client, s.base+"/", testingReport("r1", 1)); code != http.StatusOK || text != "report already stored\n" {
		t.Errorf("POST of a stored report: %d %q", code, text)
	}
}

// TestDuplicates: a report is stored once, by content and by
// organization-name and report-id.
func TestDuplicates(t *testing.T) {
	dir := t.TempDir()
	s := server(t, "-data", dir)
	r := testingReport("dup", 10)
	plain, _ := json.Marshal(r)
	if code, text := postBody(t, s.client, s.base+"/", tlsrpt.MediaTypeJSON, plain); code != http.StatusOK || text != "report stored\n" {
		t.Fatalf("POST: %d %q", code, text)
	}
	for name, body := range map[string][]byte{"same bytes": plain, "same id, gzip": gzipReport(t, r)} {
		if code, text := postBody(t, s.client, s.base+"/", tlsrpt.MediaTypeGzip, body); code != http.StatusOK || text != "report already stored\n" {
			t.Errorf("%s: %d %q", name, code, text)
		}
	}
	// Copies arriving together: one is stored, the others acknowledged
	// once it is on disk.
	same := gzipReport(t, testingReport("together", 1))
	var wg sync.WaitGroup
	var stored atomic.Int32
	for range 8 {
		wg.Go(func() {
			code, text := postBody(t, s.client, s.base+"/", tlsrpt.MediaTypeGzip, same)
			if code != http.StatusOK {
				t.Errorf("concurrent copy: %d %q", code, text)
			}
			if text == "report stored\n" {
				stored.Add(1)
			}
		})
	}
	wg.Wait()
	if n := stored.Load(); n != 1 {
		t.Errorf("%d of 8 concurrent copies stored", n)
	}
	s.stop()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+fileSuffix))
	if len(files) != 2 {
		t.Errorf("%d files stored: %q", len(files), files)
	}
	first, _ := os.ReadFile(files[0])
	if !bytes.Equal(first, plain) {
		t.Errorf("stored bytes differ from those received")
	}
}

// TestDomainsServed: with -domains, reports for other domains are
// refused.
func TestDomainsServed(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-domains", "Ready.Example.,other.example")
	if code, _ := post(t, s.client, s.base+"/", testingReport("ok", 1)); code != http.StatusOK {
		t.Errorf("POST for ready.example: %d", code)
	}
	r := testingReport("elsewhere", 1)
	r.Policies[0].Policy.Domain = "victim.example"
	if code, text := post(t, s.client, s.base+"/", r); code != http.StatusBadRequest || !strings.Contains(text, "no policy-domain of the report is served here") {
		t.Errorf("POST for victim.example: %d %q", code, text)
	}
}

// TestRetention: reports past -retention-days are deleted at start.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	old := testingReport("old", 1)
	old.DateRange.Start = old.DateRange.Start.AddDate(0, 0, -40)
	old.DateRange.End = old.DateRange.End.AddDate(0, 0, -40)
	files := []string{writeReport(t, t.TempDir(), old), writeReport(t, t.TempDir(), testingReport("new", 1))}
	out, _ := runFiles(t, 0, append([]string{"-data", dir}, files...)...)
	if !strings.Contains(out, "ready.example: NOT READY: 2 sessions") {
		t.Fatalf("first run:\n%s", out)
	}
	out, _ = runFiles(t, 0, "-data", dir, "-retention-days", "30")
	if !strings.Contains(out, "deleted 1 reports that ended before 2026-02-08") || !strings.Contains(out, "ready.example: NOT READY: 1 session ") {
		t.Errorf("second run:\n%s", out)
	}
	if stored, _ := filepath.Glob(filepath.Join(dir, "*"+fileSuffix)); len(stored) != 1 {
		t.Errorf("%d files left", len(stored))
	}
}

// TestFutureReportRefused: a period ending after tomorrow would stay on
// the dashboard past any retention.
func TestFutureReportRefused(t *testing.T) {
	s := server(t, "-data", t.TempDir())
	r := testingReport("future", 1)
	r.DateRange.Start = r.DateRange.Start.AddDate(100, 0, 0)
	r.DateRange.End = r.DateRange.End.AddDate(100, 0, 0)
	if code, text := post(t, s.client, s.base+"/", r); code != http.StatusBadRequest || !strings.Contains(text, "in the future") {
		t.Errorf("POST: %d %q", code, text)
	}
}
