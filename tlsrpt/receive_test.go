package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func encodeJSON(t testing.TB, r *Report) []byte {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHandler sends every kind of request to a Handler behind a real
// HTTPS server and checks the status and the reason given.
func TestHandler(t *testing.T) {
	rep := collectedReport(t)
	js := encodeJSON(t, rep)
	gz := gzipOf(t, js)
	invalid := *rep
	invalid.OrganizationName = ""
	invalidJS := encodeJSON(t, &invalid)
	bomb := gzipOf(t, append(js[:len(js)-1], append(bytes.Repeat([]byte(" "), 1<<20), '}')...))

	var got []*Report
	h := &Handler{
		Decoder: Decoder{MaxCompressedSize: 64 << 10, MaxReportSize: 512 << 10},
		Report: func(ctx context.Context, r *Report) error {
			if r.ReportID == "refuse" {
				return errors.New("disk full")
			}
			got = append(got, r)
			return nil
		},
	}
	log, _ := quietLogger()
	h.Logger = log
	strict := *h
	strict.Strict = true
	refused := *rep
	refused.ReportID = "refuse"

	ca := newDeliveryCA(t)
	for _, tc := range []struct {
		name     string
		h        *Handler
		method   string
		ct, ce   string
		body     []byte
		chunked  bool
		status   int
		contains string
	}{
		{"gzip", h, "POST", MediaTypeGzip, "", gz, false, 200, "accepted"},
		{"json", h, "POST", MediaTypeJSON + "; charset=utf-8", "", js, false, 200, "accepted"},
		{"json chunked", h, "POST", MediaTypeJSON, "", js, true, 200, "accepted"},
		{"GET", h, "GET", "", "", nil, false, 405, "POST"},
		{"PUT", h, "PUT", MediaTypeGzip, "", gz, false, 405, "POST"},
		{"text/plain", h, "POST", "text/plain", "", js, false, 415, "text/plain"},
		{"application/json", h, "POST", "application/json", "", js, false, 415, "application/json"},
		{"no Content-Type", h, "POST", "", "", js, false, 415, "Content-Type"},
		{"bad Content-Type", h, "POST", "application/tlsrpt+gzip; =", "", gz, false, 415, "Content-Type"},
		{"Content-Encoding", h, "POST", MediaTypeJSON, "gzip", gz, false, 415, "Content-Encoding"},
		{"too long", h, "POST", MediaTypeGzip, "", make([]byte, 65<<10), false, 413, "over the limit"},
		{"too long chunked", h, "POST", MediaTypeJSON, "", make([]byte, 65<<10), true, 413, "MaxCompressedSize"},
		{"gzip bomb", h, "POST", MediaTypeGzip, "", bomb, false, 413, "MaxReportSize"},
		{"bad gzip", h, "POST", MediaTypeGzip, "", gz[:len(gz)-9], false, 400, "gzip"},
		{"bad JSON", h, "POST", MediaTypeJSON, "", js[:len(js)-1], false, 400, "invalid report"},
		{"policies not an array", h, "POST", MediaTypeJSON, "", []byte(`{"policies":{}}`), false, 400, "policies"},
		{"empty", h, "POST", MediaTypeJSON, "", nil, false, 400, "invalid report"},
		{"invalid, lenient", h, "POST", MediaTypeJSON, "", invalidJS, false, 200, "accepted"},
		{"invalid, strict", &strict, "POST", MediaTypeJSON, "", invalidJS, false, 400, "organization-name: missing"},
		{"valid, strict", &strict, "POST", MediaTypeGzip, "", gz, false, 200, "accepted"},
		{"callback fails", h, "POST", MediaTypeJSON, "", encodeJSON(t, &refused), false, 500, "try again later"},
		{"no callback", &Handler{Logger: log}, "POST", MediaTypeJSON, "", js, false, 500, "no Report function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, client := ca.httpsServer(t, tc.h)
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // no length known: chunked
			}
			req, _ := http.NewRequest(tc.method, srv.URL+"/tlsrpt", body)
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.ce != "" {
				req.Header.Set("Content-Encoding", tc.ce)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(msg), tc.contains) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, msg, tc.status, tc.contains)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
	if len(got) != 5 {
		t.Fatalf("%d reports handed over, want 5", len(got))
	}
	for _, r := range got[:3] {
		checkSameReport(t, r, rep)
	}
}

// TestHandlerRequest: Report learns the request from its ctx, and a
// context that no Handler made carries none.
func TestHandlerRequest(t *testing.T) {
	type seen struct {
		ok           bool
		remote, path string
		ctxDone      bool
	}
	var got seen
	h := &Handler{Report: func(ctx context.Context, r *Report) error {
		req, ok := RequestFromContext(ctx)
		if ok {
			got = seen{ok, req.RemoteAddr, req.URL.Path, req.Context().Done() == ctx.Done()}
		}
		return nil
	}}
	srv, client := newDeliveryCA(t).httpsServer(t, h)
	resp, err := client.Post(srv.URL+"/v1/tlsrpt", MediaTypeJSON, bytes.NewReader(encodeJSON(t, collectedReport(t))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if !got.ok || !strings.HasPrefix(got.remote, "127.0.0.1:") || got.path != "/v1/tlsrpt" || !got.ctxDone {
		t.Errorf("Report saw %+v, want the request from 127.0.0.1 to /v1/tlsrpt, with its context", got)
	}
	if req, ok := RequestFromContext(context.Background()); ok || req != nil {
		t.Errorf("RequestFromContext(context.Background()) = %v, %v; want nil, false", req, ok)
	}
}

// TestHandlerReadTimeout: a client that stops sending gets 400 after the
// read timeout.
func TestHandlerReadTimeout(t *testing.T) {
	log, _ := quietLogger()
	h := &Handler{ReadTimeout: 50 * time.Millisecond, Logger: log, Report: func(context.Context, *Report) error { return nil }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", srv.URL, pr)
	req.Header.Set("Content-Type", MediaTypeJSON)
	go pw.Write([]byte(`{"organization-name":`))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "reading the request body") {
		t.Errorf("%d %q", resp.StatusCode, msg)
	}
}

func TestParseMessageRealWorld(t *testing.T) {
	for _, tc := range []struct {
		file, org, id  string
		typ            PolicyType
		domain         string
		ok, failed     int64
		details        int
		firstType      ResultType
		firstSessions  int64
		start, end     string
		contact        string
		validationOkay bool
	}{
		{"google-2024.eml", "Google Inc.", "2024-09-03T00:00:00Z_cardinalhealth.ca", PolicyNotFound, "cardinalhealth.ca",
			48, 0, 0, "", 0, "2024-09-03T00:00:00Z", "2024-09-03T23:59:59Z", "smtp-tls-reporting@google.com", true},
		{"stalwart-rpt01.eml", "Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", PolicySTS, "company-y.example",
			5326, 303, 3, ResultCertificateExpired, 100, "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z", "sts-reporting@company-x.example", false},
		{"stalwart-rpt02.eml", "Google Inc.", "2020-01-01T00:00:00Z_example.com", PolicySTS, "example.com",
			23, 1, 1, ResultCertificateHostMismatch, 1, "2020-01-01T00:00:00Z", "2020-01-07T23:59:59Z", "smtp-tls-reporting@google.com", false},
	} {
		f, err := os.Open(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseMessage(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		p := r.Policies[0]
		if r.OrganizationName != tc.org || r.ReportID != tc.id || r.ContactInfo != tc.contact ||
			r.DateRange.Start.Format(time.RFC3339) != tc.start || r.DateRange.End.Format(time.RFC3339) != tc.end ||
			len(r.Policies) != 1 || p.Policy.Type != tc.typ || p.Policy.Domain != tc.domain ||
			p.Summary != (Summary{tc.ok, tc.failed}) || len(p.FailureDetails) != tc.details {
			t.Errorf("%s: %+v", tc.file, r)
		}
		if tc.details > 0 && (p.FailureDetails[0].ResultType != tc.firstType || p.FailureDetails[0].FailedSessionCount != tc.firstSessions) {
			t.Errorf("%s: first failure detail %+v", tc.file, p.FailureDetails[0])
		}
		// stalwart-rpt01 has the RFC example's broken additional-information
		// URI; stalwart-rpt02 has no mx-host though its policy has an mx line.
		if err := r.Validate(); (err == nil) != tc.validationOkay {
			t.Errorf("%s: Validate = %v", tc.file, err)
		}
	}
}

// mimeMessage builds a message with the header lines and body given.
func mimeMessage(header string, body string) string {
	return strings.ReplaceAll(header, "\n", "\r\n") + "\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
}

func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 60 {
		out.WriteString(s[:60] + "\n")
		s = s[60:]
	}
	return out.String() + s + "\n"
}

func TestParseMessage(t *testing.T) {
	rep := collectedReport(t)
	js := encodeJSON(t, rep)
	gz := gzipOf(t, js)
	var qp bytes.Buffer
	qw := quotedprintable.NewWriter(&qp)
	qw.Write(js)
	qw.Close()
	report := func(part string) string {
		return mimeMessage("From: a@sender.example\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\n",
			"--b\nContent-Type: text/plain\n\nhello\n--b\n"+part+"\n--b--\n")
	}
	gzPart := "Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n" + b64(gz)
	for _, tc := range []struct {
		name string
		msg  string
		err  error // nil: rep
	}{
		{"gzip base64", report(gzPart), nil},
		{"json 7bit", report("Content-Type: application/tlsrpt+json\n\n" + string(js)), nil},
		{"json quoted-printable", report("Content-Type: application/tlsrpt+json\nContent-Transfer-Encoding: Quoted-Printable\n\n" + strings.ReplaceAll(qp.String(), "\r\n", "\n")), nil},
		{"base64 with spaces", report("Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n" + strings.ReplaceAll(b64(gz), "\n", " \t\n")), nil},
		{"gzip as octet-stream named .json.gz", report("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"a!b!1!2.json.gz\"\nContent-Transfer-Encoding: base64\n\n" + b64(gz)), nil},
		{"gzip as application/gzip named .json.gz", report("Content-Type: application/gzip; name=\"a!b!1!2.json.gz\"\nContent-Transfer-Encoding: base64\n\n" + b64(gz)), nil},
		{"application/tlsrpt (Stalwart)", report("Content-Type: application/tlsrpt\n\n" + string(js)), nil},
		{"whole message", mimeMessage("Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n", b64(gz)), nil},
		{"forwarded in multipart/mixed", mimeMessage("Content-Type: multipart/mixed; boundary=outer\n",
			"--outer\nContent-Type: text/plain\n\nFYI\n--outer\n"+
				"Content-Type: multipart/report; report-type=\"TLSRPT\"; boundary=b\n\n--b\n"+gzPart+"\n--b--\n--outer--\n"), nil},
		{"report part in multipart/mixed", mimeMessage("Content-Type: multipart/mixed; boundary=b\n", "--b\n"+gzPart+"\n--b--\n"), nil},

		{"plain text", mimeMessage("Subject: hi\n", "hello\n"), ErrNoReport},
		{"not a message", "\x00\x01garbage without a header end", ErrNoReport},
		{"octet-stream without name", report("Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64(gz)), ErrNoReport},
		{"octet-stream outside a report", mimeMessage("Content-Type: multipart/mixed; boundary=b\n",
			"--b\nContent-Type: application/octet-stream; name=\"x.json.gz\"\nContent-Transfer-Encoding: base64\n\n"+b64(gz)+"\n--b--\n"), ErrNoReport},
		{"delivery status notification of a report", mimeMessage("Content-Type: multipart/report; report-type=delivery-status; boundary=d\n",
			"--d\nContent-Type: text/plain\n\nundeliverable\n--d\nContent-Type: message/rfc822\n\n"+report(gzPart)+"\n--d--\n"), ErrNoReport},
		{"multipart without boundary", mimeMessage("Content-Type: multipart/mixed\n", "x\n"), ErrInvalidReport},
		{"bad multipart", mimeMessage("Content-Type: multipart/mixed; boundary=b\n", "--b\nContent-Type: text/plain\nbroken header line without colon\n\nx\n--b--\n"), ErrInvalidReport},
		{"unknown transfer encoding", report("Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n"), ErrInvalidReport},
		{"bad base64", report("Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n!!!!\n"), ErrInvalidReport},
		{"bad JSON", report("Content-Type: application/tlsrpt+json\n\n{\"policies\": {}}"), ErrInvalidReport},
		{"truncated gzip", report("Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n" + b64(gz[:len(gz)/2])), ErrInvalidReport},
		{"nested too deep", mimeMessage("Content-Type: multipart/mixed; boundary=b0\n", nested(maxPartDepth+1, gzPart)), ErrInvalidReport},
		{"nested deep", mimeMessage("Content-Type: multipart/mixed; boundary=b0\n", nested(maxPartDepth-1, gzPart)), nil},
		{"too many parts", mimeMessage("Content-Type: multipart/mixed; boundary=b\n", strings.Repeat("--b\n\nx\n", maxParts+1)+"--b--\n"), ErrInvalidReport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMessage(strings.NewReader(tc.msg))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("ParseMessage: %v", err)
				}
				checkSameReport(t, got, rep)
				return
			}
			if !errors.Is(err, tc.err) || got != nil {
				t.Errorf("ParseMessage = %v, %v; want %v", got, err, tc.err)
			}
			if tc.err == ErrNoReport && errors.Is(err, ErrInvalidReport) || tc.err == ErrInvalidReport && errors.Is(err, ErrNoReport) {
				t.Errorf("error %v matches both ErrNoReport and ErrInvalidReport", err)
			}
		})
	}
}

// nested returns multiparts nested depth deep around part; the outermost
// boundary is b0.
func nested(depth int, part string) string {
	if depth == 0 {
		return "--b0\n" + part + "\n--b0--\n"
	}
	inner := part
	for i := depth; i >= 1; i-- {
		inner = fmt.Sprintf("Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n%s\n--b%d--\n", i, i, inner, i)
	}
	return "--b0\n" + inner + "\n--b0--\n"
}

// endlessReader reads as its string repeated without end (each Read
// starts the string again).
type endlessReader string

func (e endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e[i%len(e)]
	}
	return len(p), nil
}

func TestParseMessageLimits(t *testing.T) {
	for name, r := range map[string]io.Reader{
		"endless header": io.MultiReader(strings.NewReader("X-Long: "), endlessReader("a")),
		"endless report part": io.MultiReader(strings.NewReader(mimeMessage(
			"Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n",
			"--b\nContent-Type: application/tlsrpt+json\n\n")), endlessReader(" ")),
		"endless preamble": io.MultiReader(strings.NewReader(mimeMessage(
			"Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n", "")), endlessReader("preamble\r\n")),
	} {
		got, err := ParseMessage(r)
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalidReport) || got != nil {
			t.Errorf("%s: ParseMessage = %v, %v; want ErrTooLarge", name, got, err)
		}
	}
	// A message of exactly MaxMessageSize bytes is read: the text part
	// before the report takes up the room.
	rep := collectedReport(t)
	build := func(pad int) string {
		return mimeMessage("Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n",
			"--b\nContent-Type: text/plain\n\n"+strings.Repeat("x", pad)+"\n--b\nContent-Type: application/tlsrpt+json\n\n"+
				string(encodeJSON(t, rep))+"\n--b--\n")
	}
	msg := build(0)
	msg = build(MaxMessageSize - len(msg))
	if len(msg) != MaxMessageSize {
		t.Fatalf("message of %d bytes", len(msg))
	}
	if got, err := ParseMessage(strings.NewReader(msg)); err != nil {
		t.Errorf("message of the maximum size: %v", err)
	} else {
		checkSameReport(t, got, rep)
	}
	// With 20 more bytes in the text part, the report part ends past the
	// limit. (Bytes past the limit after the report are never read.)
	if _, err := ParseMessage(strings.NewReader(build(MaxMessageSize - len(build(0)) + 20))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("message over the maximum: %v", err)
	}
}

// FuzzParseMessage: ParseMessage never panics, and a report it reads,
// written again as the report part of a message, reads back the same.
func FuzzParseMessage(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rep := collectedReport(f)
	m, err := (&Sender{From: "tlsrpt@sender.example"}).Message(context.Background(), rep, []string{"tlsrpt@example.com"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Data)
	f.Add([]byte(mimeMessage("Content-Type: application/tlsrpt+json\n", string(encodeJSON(f, rep)))))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseMessage(bytes.NewReader(data))
		if err != nil {
			if r != nil {
				t.Fatal("a report and an error")
			}
			return
		}
		js, err := r.MarshalJSON()
		if err != nil {
			return // not writable, such as a year past 9999
		}
		again, err := ParseMessage(strings.NewReader(mimeMessage(
			"Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n",
			"--b\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n"+b64(gzipOf(t, js))+"--b--\n")))
		if err != nil {
			t.Fatalf("re-reading %s: %v", js, err)
		}
		js2, err := again.MarshalJSON()
		if err != nil || !bytes.Equal(js, js2) {
			t.Fatalf("round trip changed the report:\n%s\n%s", js, js2)
		}
	})
}

// FuzzHandler: whatever the body, a Handler answers 200, 400 or 413, and
// hands over only reports that encode again.
func FuzzHandler(f *testing.F) {
	rep := collectedReport(f)
	js := encodeJSON(f, rep)
	f.Add(js, false)
	f.Add(gzipOf(f, js), true)
	f.Add([]byte(`{"policies":{}}`), false)
	f.Add(gzipOf(f, []byte("{")), true)
	log, _ := quietLogger()
	h := &Handler{
		Decoder: Decoder{MaxCompressedSize: 32 << 10, MaxReportSize: 256 << 10},
		Logger:  log,
		Report: func(ctx context.Context, r *Report) error {
			_, err := r.MarshalJSON()
			if err != nil && !strings.Contains(err.Error(), "year") {
				return fmt.Errorf("handed over a report that does not encode: %w", err)
			}
			return nil
		},
	}
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", MediaTypeJSON)
		if gz {
			req.Header.Set("Content-Type", MediaTypeGzip)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
