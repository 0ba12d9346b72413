package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// variedReport is the i-th of a set of reports over several domains,
// reporters, days and failures, dated in the days before day.
func variedReport(i int, day time.Time) *tlsrpt.Report {
	start := day.AddDate(0, 0, -1-i%20)
	domain := fmt.Sprintf("d%d.example", i%7)
	mode := []string{"testing", "enforce", "testing"}[i%3]
	r := &tlsrpt.Report{
		OrganizationName: fmt.Sprintf("Org %d", i%5),
		DateRange:        tlsrpt.DateRange{Start: start, End: start.Add(24*time.Hour - time.Second)},
		ContactInfo:      "mailto:tlsrpt@sender.example",
		ReportID:         fmt.Sprintf("report-%d@sender.example", i),
		Policies: []tlsrpt.PolicyResult{{
			Policy: tlsrpt.AppliedPolicy{
				Type:         tlsrpt.PolicySTS,
				PolicyString: []string{"version: STSv1", "mode: " + mode, "mx: mx." + domain, "max_age: 604800"},
				Domain:       domain,
				MXHost:       []string{"mx." + domain},
			},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: int64(100 + i)},
		}},
	}
	if i%4 == 0 {
		n := int64(1 + i%9)
		r.Policies[0].Summary.TotalFailureSessionCount = n
		r.Policies[0].FailureDetails = []tlsrpt.FailureDetail{{
			ResultType:          []tlsrpt.ResultType{tlsrpt.ResultCertificateExpired, tlsrpt.ResultSTARTTLSNotSupported}[i%2],
			SendingMTAIP:        netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 11)}),
			ReceivingMXHostname: fmt.Sprintf("mx%d.%s", i%3, domain),
			FailedSessionCount:  n,
		}}
	}
	return r
}

// postAll POSTs reports from workers goroutines, each with its own
// encoder and connections, and fails the test on any answer but 200.
// The Content-Type is application/tlsrpt+json for all: the format is
// told from the content.
func postAll(t *testing.T, s *testServer, reports []*tlsrpt.Report, workers int) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var enc tlsrpt.Encoder
			var body bytes.Buffer
			for i := w; i < len(reports); i += workers {
				// Every tenth gzip, the others plain JSON: cheaper to
				// encode and decode under the race detector.
				body.Reset()
				var err error
				if i%10 == 0 {
					err = enc.EncodeGzip(&body, reports[i])
				} else {
					var b []byte
					b, err = reports[i].MarshalJSON()
					body.Write(b)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if code, text := postBody(t, client, s.base+"/v1/tlsrpt", tlsrpt.MediaTypeJSON, body.Bytes()); code != http.StatusOK {
					t.Errorf("POST: %d %q", code, text)
				}
			}
		})
	}
	wg.Wait()
}

// TestRestartSameSummary receives 1000 reports by POST and 100 by file,
// restarts, and finds the same summary: "it keeps every report in memory
// and loses them all on restart".
func TestRestartSameSummary(t *testing.T) {
	data, files := memDir(t), t.TempDir()
	day := testNow().Truncate(24 * time.Hour)
	var args []string
	for i := range 100 {
		r := variedReport(1000+i, day)
		name := filepath.Join(files, fmt.Sprintf("r%d", i))
		var b []byte
		if i%2 == 0 {
			b = gzipReport(t, r)
		} else {
			var err error
			if b, err = r.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	t0 := time.Now()
	s := server(t, append([]string{"-data", data, "-max-inflight", "128"}, args...)...)
	t.Logf("files: %s", time.Since(t0))
	var reports []*tlsrpt.Report
	for i := range 1000 {
		reports = append(reports, variedReport(i, day))
	}
	postAll(t, s, reports, 64)
	t.Logf("posts: %s", time.Since(t0))
	jsonBefore := get(t, s.client, s.base+"/api/summary")
	pageBefore := get(t, s.client, s.base+"/")
	textBefore := get(t, s.client, s.base+"/summary")
	s.stop()
	var sum summary
	if err := json.Unmarshal([]byte(jsonBefore), &sum); err != nil || sum.Reports != 1100 {
		t.Fatalf("%d reports stored, want 1100 (%v)", sum.Reports, err)
	}

	s2 := server(t, "-data", data)
	if got := get(t, s2.client, s2.base+"/api/summary"); got != jsonBefore {
		t.Errorf("JSON summary differs after restart:\nbefore: %.2000s\nafter:  %.2000s", jsonBefore, got)
	}
	if got := get(t, s2.client, s2.base+"/"); got != pageBefore {
		t.Errorf("dashboard differs after restart")
	}
	if got := get(t, s2.client, s2.base+"/summary"); got != textBefore {
		t.Errorf("text summary differs after restart:\nbefore:\n%s\nafter:\n%s", textBefore, got)
	}
}

// memDir returns a new directory in memory (tmpfs /dev/shm) where
// there is one, else on disk: for tests of what the store holds rather
// than of fsync, which is slow on a busy disk and a no-op on tmpfs. The
// SIGKILL test uses the disk.
func memDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "reportd-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestSIGKILLKeepsAcknowledged kills a real reportd process during a
// burst of POSTs: every report it acknowledged is in the data directory.
func TestSIGKILLKeepsAcknowledged(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "-data", data, "-addr", "127.0.0.1:0", "-max-inflight", "64")
	cmd.Env = append(os.Environ(), "REPORTD_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	base := ""
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if base == "" {
		t.Fatal("no listening line")
	}
	go io.Copy(io.Discard, stdout)

	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	var (
		mu    sync.Mutex
		acked []string
		next  int
	)
	killed := make(chan struct{})
	var kill sync.Once
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				r := variedReport(i, day)
				resp, err := client.Post(base+"v1/tlsrpt", tlsrpt.MediaTypeGzip, bytes.NewReader(gzipReport(t, r)))
				if err != nil {
					return // killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("POST: %s", resp.Status)
					return
				}
				mu.Lock()
				acked = append(acked, r.ReportID)
				n := len(acked)
				mu.Unlock()
				if n == 50 {
					kill.Do(func() {
						cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	wg.Wait()
	<-killed
	cmd.Wait()

	in := &intake{store: newStore(data, 1<<20, 1<<40), agg: newAggregate(2), now: time.Now}
	bad, err := in.load(t.Logf)
	if err != nil || bad != 0 {
		t.Fatalf("load: %d unreadable, %v", bad, err)
	}
	stored := map[string]bool{}
	for _, info := range in.agg.reports {
		stored[info.ReportID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged report %s was lost", id)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
	if tmp, _ := filepath.Glob(filepath.Join(data, tmpPrefix+"*")); len(tmp) != 0 {
		t.Errorf("temporary files left after load: %q", tmp)
	}
}

// TestSIGTERMFinishesInFlight: "SIGTERM with one slow client in flight
// waits 5 s, exits 1 and drops what was being received".
func TestSIGTERMFinishesInFlight(t *testing.T) {
	data := t.TempDir()
	s := server(t, "-data", data, "-min-reporters", "1")
	body := gzipReport(t, testingReport("in-flight", 7))
	c := startPOST(t, strings.TrimPrefix(s.base, "http://"), len(body))
	defer c.Close()
	s.cancel()
	s.waitLine(t, "shutting down")
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(text) != "report stored\n" {
		t.Errorf("in-flight POST: %s %q", resp.Status, text)
	}
	out := s.stop() // checks the exit status 0
	if !strings.Contains(out, "ready.example: READY: 7 sessions") {
		t.Errorf("output:\n%s", out)
	}
	again, _ := runFiles(t, 0, "-data", data)
	if !strings.Contains(again, "1 reports stored") {
		t.Errorf("after restart:\n%s", again)
	}
}

// TestSIGTERMGraceOver: a client that does not finish within -grace is
// cut off; the exit status is still 0, and its report, never
// acknowledged, is not stored.
func TestSIGTERMGraceOver(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-grace", "50ms")
	c := startPOST(t, strings.TrimPrefix(s.base, "http://"), 1000)
	defer c.Close()
	out := s.stop()
	if !strings.Contains(out, "grace period over") || !strings.Contains(out, "\nno reports\n") {
		t.Errorf("output:\n%s", out)
	}
}

// raiseFileLimit raises the soft limit on open files to n, or as far as
// the hard limit allows, and returns the limit.
func raiseFileLimit(t *testing.T, n uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < n {
		lim.Cur = min(n, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	return lim.Cur
}

// TestSlowClientsDoNotBlock: 2000 connections that send half a request
// and one client that asks for the summary and never reads ("blocks every
// POST for two minutes") do not stop a normal POST: it is served while
// every slow connection is still open, long before their header timeout.
func TestSlowClientsDoNotBlock(t *testing.T) {
	const slow = 2000
	if got := raiseFileLimit(t, 2*slow+256); got < 2*slow+256 {
		t.Fatalf("RLIMIT_NOFILE is %d; the test needs %d open files (client and server side of %d connections)", got, 2*slow+256, slow)
	}
	s := server(t, "-data", memDir(t), "-read-header-timeout", "5m", "-write-timeout", "5m", "-max-inflight", "64")
	addr := strings.TrimPrefix(s.base, "http://")
	var reports []*tlsrpt.Report
	for i := range 30 {
		r := variedReport(i, testNow().Truncate(24*time.Hour))
		r.Policies[0].Policy.Domain = fmt.Sprintf("big%d.example", i)
		reports = append(reports, r)
	}
	postAll(t, s, reports, 16)
	// 40 dashboards of about 250 KB: more than the socket buffers hold,
	// so that the server is stuck writing to the stalled reader.
	t0 := time.Now()
	defer func() { t.Logf("after the reports: %s", time.Since(t0)) }()

	// The stalled reader: many pipelined GETs, nothing read, a small
	// receive buffer.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.(*net.TCPConn).SetReadBuffer(1024)
	for range 40 {
		fmt.Fprintf(stalled, "GET / HTTP/1.1\r\nHost: reportd\r\n\r\nGET /summary HTTP/1.1\r\nHost: reportd\r\n\r\n")
	}

	conns := make([]net.Conn, slow)
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := w; i < slow; i += 20 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Errorf("slow connection %d: %v", i, err)
					return
				}
				conns[i] = c
				io.WriteString(c, "POST /v1/tlsrpt HTTP/1.1\r\nHost: reportd\r\nContent-")
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if t.Failed() {
		return
	}

	t.Logf("slow connections open: %s", time.Since(t0))
	r := testingReport("normal", 3)
	if code, text := post(t, s.client, s.base+"/v1/tlsrpt", r); code != http.StatusOK {
		t.Fatalf("normal POST: %d %q", code, text)
	}
	if got := get(t, s.client, s.base+"/api/summary"); !strings.Contains(got, `"report_id": "normal"`) {
		t.Errorf("summary lacks the normal report")
	}
	// Served while the slow connections are all still open: none was
	// closed by the server to make room.
	var open atomic.Int64
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < slow; i += 50 {
				conns[i].SetReadDeadline(time.Now().Add(time.Millisecond))
				if _, err := conns[i].Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
					open.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if open := open.Load(); open != slow {
		t.Errorf("%d of %d slow connections still open", open, slow)
	}
}
