package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func gzipBytes(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestRealWorldReports decodes the reports in testdata (see
// testdata/README.md): each decodes, shows its deviations as validation
// findings, and re-encodes to a report that decodes to the same values.
func TestRealWorldReports(t *testing.T) {
	tests := []struct {
		file     string
		problems []string // Validate's findings, in order
	}{
		{"rfc8460-example-fixed.json", nil},
		{"rfc8460-example.json", []string{
			"policies[0].policy.mx-host: a string, not an array of strings; read as an array of one",
		}},
		{"mailru.json", []string{
			"policies[0].policy.policy-string: missing for policy type sts",
			"policies[0].summary.total-failure-session-count: 1 is less than the sum of the failed-session-counts of the failure details (2)",
			"policies[0].failure-details[0].sending-mta-ip: missing",
			"policies[0].failure-details[1].sending-mta-ip: missing",
		}},
		{"stalwart-rpt01.json", []string{
			`policies[0].failure-details[1].additional-information: not a URI: "https://reports.company-x.example/report_info ? id = 5065427 c -"...`,
		}},
		{"stalwart-rpt02.json", []string{
			"policies[0].policy.mx-host: missing, though the policy has mx patterns",
		}},
		{"stalwart-rpt03.json", []string{
			"policies[0].summary.total-failure-session-count: missing",
			"policies[0].policy.policy-domain: missing",
			"policies[1].summary.total-failure-session-count: missing",
			`policies[1].policy.policy-type: unknown policy type "invalid-policy-type"`,
			"policies[1].policy.policy-domain: missing",
		}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseReport(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		checkProblems(t, tt.file, r, tt.problems)
		// Gzip-compressed, the same report.
		rz, err := ParseReport(bytes.NewReader(gzipBytes(t, data)))
		if err != nil || !reflect.DeepEqual(rz, r) {
			t.Errorf("%s: gzip-compressed decodes to %v, %v", tt.file, rz, err)
		}
		checkReencode(t, tt.file, r)
	}
}

func checkProblems(t *testing.T, name string, r *Report, want []string) {
	t.Helper()
	err := r.Validate()
	var got []string
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidReport) {
			t.Errorf("%s: Validate error %T %v", name, err, err)
			return
		}
		for _, p := range ve.Problems {
			got = append(got, p.String())
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Validate findings\n%q\nwant\n%q", name, got, want)
	}
}

// checkReencode encodes r, decodes the result and checks that the values
// are the same, that the encoding shows no deviation and that it is stable.
func checkReencode(t *testing.T, name string, r *Report) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Errorf("%s: json.Marshal: %v", name, err)
		return
	}
	again, err := ParseReport(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s: re-encoded report does not decode: %v\n%s", name, err, b)
		return
	}
	if !sameReport(r, again) {
		t.Errorf("%s: re-encoded report differs:\n%#v\n%#v", name, r, again)
	}
	if len(again.notes) != 0 {
		t.Errorf("%s: re-encoded report has deviations: %q", name, notePaths(again))
	}
	b2, _ := again.MarshalJSON()
	if !bytes.Equal(b, b2) {
		t.Errorf("%s: encoding not stable:\n%s\n%s", name, b, b2)
	}
}

// TestAppendixBVerbatim: the example of RFC 8460 Appendix B, as printed,
// is not JSON: a URL is broken over two lines inside a string.
func TestAppendixBVerbatim(t *testing.T) {
	data, err := os.ReadFile("testdata/rfc8460-appendix-b.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseReport(bytes.NewReader(data))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("ParseReport = %v, want a *SyntaxError", err)
	}
	if se.Line != 32 || se.Column != 71 || se.Msg != `invalid character '\n' in string literal` {
		t.Errorf("error at %d:%d %q, want line 32, column 71, a raw line break in a string", se.Line, se.Column, se.Msg)
	}
	if json.Valid(data) {
		t.Error("encoding/json accepts Appendix B")
	}
}

// TestEmailAttachments decodes the gzip report parts of the real report
// emails in testdata (extracted here with the standard library; parsing
// report emails is receive.go's job) and parses their file names.
func TestEmailAttachments(t *testing.T) {
	tests := []struct {
		file     string
		name     FileName
		org      string
		policies int
	}{
		{"google-2024.eml", FileName{Sender: "google.com", PolicyDomain: "cardinalhealth.ca",
			Begin: time.Unix(1725321600, 0).UTC(), End: time.Unix(1725407999, 0).UTC(), UniqueID: "001", Gzip: true},
			"Google Inc.", 1},
		{"stalwart-rpt01.eml", FileName{Sender: "mail.sender.example", PolicyDomain: "example.com",
			Begin: time.Unix(1013662812, 0).UTC(), End: time.Unix(1013749130, 0).UTC(), Gzip: true},
			"Company-X", 1},
	}
	for _, tt := range tests {
		body, filename := reportPart(t, filepath.Join("testdata", tt.file))
		fn, err := ParseFileName(filename)
		if err != nil || !reflect.DeepEqual(fn, tt.name) {
			t.Errorf("%s: ParseFileName(%q) = %+v, %v, want %+v", tt.file, filename, fn, err, tt.name)
		}
		if fn.String() != filename {
			t.Errorf("%s: FileName.String() = %q, want %q", tt.file, fn.String(), filename)
		}
		r, err := ParseReport(bytes.NewReader(body))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if r.OrganizationName != tt.org || len(r.Policies) != tt.policies {
			t.Errorf("%s: report of %q with %d policies", tt.file, r.OrganizationName, len(r.Policies))
		}
		checkReencode(t, tt.file, r)
	}
	// Google's real report is valid.
	body, _ := reportPart(t, "testdata/google-2024.eml")
	r, _ := ParseReport(bytes.NewReader(body))
	checkProblems(t, "google-2024.eml", r, nil)
}

// reportPart returns the decoded body and file name of the
// application/tlsrpt+gzip part of an email.
func reportPart(t *testing.T, file string) ([]byte, string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("%s: no %s part: %v", file, MediaTypeGzip, err)
		}
		if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt != MediaTypeGzip {
			continue
		}
		body, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		return body, p.FileName()
	}
}

// countReader counts the bytes read from it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless yields the same byte for ever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func checkTooLarge(t *testing.T, name string, err error, msg string) {
	t.Helper()
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalidReport) {
		t.Errorf("%s: error %v, want ErrTooLarge and ErrInvalidReport", name, err)
		return
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: error %q does not say %q", name, err, msg)
	}
}

func TestLimitsDefaults(t *testing.T) {
	if DefaultMaxCompressedSize != 10<<20 || DefaultMaxReportSize != 50<<20 {
		t.Errorf("defaults %d/%d, want 10 MiB/50 MiB", DefaultMaxCompressedSize, DefaultMaxReportSize)
	}
	// An endless input stops after the compressed-size cap.
	in := &countReader{r: endless(' ')}
	_, err := ParseReport(in)
	checkTooLarge(t, "endless plain input", err, "input longer than 10485760 bytes (MaxCompressedSize)")
	if in.n > DefaultMaxCompressedSize+1 {
		t.Errorf("read %d bytes of an endless input, cap is %d", in.n, DefaultMaxCompressedSize)
	}
}

func TestGzipBomb(t *testing.T) {
	// A zero Decoder uses the documented defaults.
	if in, out := (&Decoder{}).limits(); in != DefaultMaxCompressedSize || out != DefaultMaxReportSize {
		t.Errorf("zero Decoder limits %d/%d", in, out)
	}
	// 5 MiB of white space in 7 gzip members (a valid gzip stream) takes
	// about 6 KiB. Decompressing stops at the limit.
	spaces := gzipBytes(t, bytes.Repeat([]byte(" "), 1<<20))
	bomb := gzipBytes(t, []byte("{"))
	for range 5 {
		bomb = append(bomb, spaces...)
	}
	bomb = append(bomb, gzipBytes(t, []byte("}"))...)
	if len(bomb) > 20<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	d := Decoder{MaxReportSize: 1 << 20}
	_, err := d.Decode(bytes.NewReader(bomb))
	checkTooLarge(t, "1 MiB limit", err, "JSON text longer than 1048576 bytes (MaxReportSize)")
	d = Decoder{MaxReportSize: 4 << 20}
	_, err = d.Decode(bytes.NewReader(bomb))
	checkTooLarge(t, "4 MiB limit", err, "JSON text longer than 4194304 bytes (MaxReportSize)")
	// A single deflate stream that expands a thousandfold.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write([]byte(`{"x":"`))
	zw.Write(bytes.Repeat([]byte("a"), 3<<20))
	zw.Write([]byte(`"}`))
	zw.Close()
	_, err = d.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Errorf("3 MiB report under a 4 MiB limit: %v", err)
	}
	d.MaxReportSize = 2 << 20
	_, err = d.Decode(bytes.NewReader(buf.Bytes()))
	checkTooLarge(t, "single-stream bomb", err, "JSON text longer than 2097152 bytes")

	// Exactly at the limit is fine.
	small := sampleReportJSON("", "", "", "")
	d = Decoder{MaxReportSize: int64(len(small))}
	if _, err := d.Decode(bytes.NewReader(gzipBytes(t, []byte(small)))); err != nil {
		t.Errorf("report of exactly MaxReportSize: %v", err)
	}
	d.MaxReportSize--
	_, err = d.Decode(bytes.NewReader(gzipBytes(t, []byte(small))))
	checkTooLarge(t, "one byte over", err, "longer than")
}

func TestOversizeInput(t *testing.T) {
	report := []byte(sampleReportJSON("", "", "", ""))
	n := int64(len(report))
	tests := []struct {
		name  string
		dec   Decoder
		input []byte
		msg   string // "" for success
		max   int64  // bytes that may be read
	}{
		{"plain at the cap", Decoder{MaxCompressedSize: n}, report, "", n},
		{"plain over the cap", Decoder{MaxCompressedSize: n - 1}, report, "input longer than", n},
		{"plain over MaxReportSize", Decoder{MaxReportSize: n - 1}, report, "JSON text longer than", n},
		{"gzip over the compressed cap", Decoder{MaxCompressedSize: 100}, gzipBytes(t, report), "input longer than 100 bytes (MaxCompressedSize)", 101},
		{"gzip at the compressed cap", Decoder{MaxCompressedSize: int64(len(gzipBytes(t, report)))}, gzipBytes(t, report), "", 1 << 20},
	}
	for _, tt := range tests {
		in := &countReader{r: io.MultiReader(bytes.NewReader(tt.input), strings.NewReader(strings.Repeat(" ", 1<<16)))}
		if tt.msg == "" {
			in.r = bytes.NewReader(tt.input)
		}
		_, err := tt.dec.Decode(in)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		checkTooLarge(t, tt.name, err, tt.msg)
		if in.n > tt.max {
			t.Errorf("%s: read %d bytes, at most %d allowed", tt.name, in.n, tt.max)
		}
	}
}

func TestBrokenGzip(t *testing.T) {
	report := []byte(sampleReportJSON("", "", "", ""))
	gz := gzipBytes(t, report)
	// Every truncation is an error, never a report.
	for cut := 2; cut < len(gz); cut++ {
		_, err := ParseReport(bytes.NewReader(gz[:cut]))
		if !errors.Is(err, ErrInvalidReport) || errors.Is(err, ErrTooLarge) {
			t.Fatalf("gzip cut at %d of %d: %v", cut, len(gz), err)
		}
		if cut > 10 && !strings.Contains(err.Error(), "truncated gzip stream") {
			t.Errorf("gzip cut at %d: %q does not say truncated", cut, err)
		}
	}
	// Garbage after the gzip stream.
	_, err := ParseReport(bytes.NewReader(append(append([]byte(nil), gz...), "garbage"...)))
	if !errors.Is(err, ErrInvalidReport) || !strings.Contains(err.Error(), "data after the gzip stream") {
		t.Errorf("garbage after gzip: %v", err)
	}
	for _, tail := range []string{"\n", "\x1f", "\x1f\x8b"} {
		_, err := ParseReport(bytes.NewReader(append(append([]byte(nil), gz...), tail...)))
		if !errors.Is(err, ErrInvalidReport) {
			t.Errorf("%q after gzip: %v", tail, err)
		}
	}
	// A corrupted checksum.
	bad := append([]byte(nil), gz...)
	bad[len(bad)-5] ^= 0xff
	if _, err := ParseReport(bytes.NewReader(bad)); !errors.Is(err, ErrInvalidReport) {
		t.Errorf("bad checksum: %v", err)
	}
	// Two gzip members holding one JSON text are one stream.
	two := append(gzipBytes(t, report[:50]), gzipBytes(t, report[50:])...)
	if _, err := ParseReport(bytes.NewReader(two)); err != nil {
		t.Errorf("multi-member gzip: %v", err)
	}
	// Two members holding two reports: garbage after the JSON value.
	double := append(gzipBytes(t, report), gzipBytes(t, report)...)
	var se *SyntaxError
	if _, err := ParseReport(bytes.NewReader(double)); !errors.As(err, &se) || !strings.Contains(se.Msg, "after top-level value") {
		t.Errorf("two reports in one gzip stream: %v", err)
	}
	// Gzip of something that is not JSON.
	if _, err := ParseReport(bytes.NewReader(gzipBytes(t, []byte("<html>")))); !errors.As(err, &se) {
		t.Errorf("gzip of HTML: %v", err)
	}
}

// A Decoder is safe for concurrent use.
func TestDecoderConcurrent(t *testing.T) {
	d := &Decoder{MaxReportSize: 1 << 20}
	plain := []byte(sampleReportJSON("", "", "", ""))
	gz := gzipBytes(t, plain)
	want, err := d.Decode(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			data := plain
			if i%2 == 1 {
				data = gz
			}
			for range 20 {
				r, err := d.Decode(bytes.NewReader(data))
				if err != nil || !reflect.DeepEqual(r, want) {
					errs <- fmt.Errorf("concurrent Decode: %v", err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("connection lost")
	report := []byte(sampleReportJSON("", "", "", ""))
	for _, data := range [][]byte{nil, report[:1], report[:100], gzipBytes(t, report)[:30]} {
		_, err := ParseReport(&errReader{data: data, err: boom})
		if !errors.Is(err, boom) || errors.Is(err, ErrInvalidReport) {
			t.Errorf("after %d bytes: %v, want the reader's error, not ErrInvalidReport", len(data), err)
		}
	}
}

func TestEncodeGzip(t *testing.T) {
	r := benchReport()
	var buf bytes.Buffer
	if err := EncodeGzip(&buf, r); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.MarshalJSON()
	if !bytes.Equal(plain, want) {
		t.Error("EncodeGzip does not hold MarshalJSON's output")
	}
	again, err := ParseReport(&buf)
	if err != nil || !sameReport(again, r) {
		t.Errorf("decode(EncodeGzip(r)) = %v, %v", again, err)
	}
	if buf.Len() > len(want)/10 {
		t.Logf("gzip: %d of %d bytes", buf.Len(), len(want))
	}
	// Errors of the writer are returned.
	if err := EncodeGzip(failWriter{}, r); err == nil {
		t.Error("EncodeGzip to a failing writer succeeded")
	}
	// A report that cannot be encoded.
	bad := &Report{DateRange: DateRange{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if err := EncodeGzip(io.Discard, bad); err == nil {
		t.Error("EncodeGzip of the year 10000 succeeded")
	}
}

func TestEncoderReuse(t *testing.T) {
	reports := []*Report{benchReport(), validReport(), {}}
	var e Encoder
	for round := range 2 {
		for i, r := range reports {
			var want, got bytes.Buffer
			if err := EncodeGzip(&want, r); err != nil {
				t.Fatal(err)
			}
			if err := e.EncodeGzip(&got, r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("round %d, report %d: Encoder output differs from EncodeGzip", round, i)
			}
		}
		// A failing writer or report leaves the Encoder usable.
		if err := e.EncodeGzip(failWriter{}, reports[0]); err == nil {
			t.Error("Encoder.EncodeGzip to a failing writer succeeded")
		}
		bad := &Report{DateRange: DateRange{End: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
		if err := e.EncodeGzip(io.Discard, bad); err == nil {
			t.Error("Encoder.EncodeGzip of the year 10000 succeeded")
		}
	}
	allocs := testing.AllocsPerRun(5, func() {
		if err := e.EncodeGzip(io.Discard, reports[0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("a warm Encoder allocates %v times per report, want 0", allocs)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// refReport mirrors the report schema for encoding/json, with the strict
// types of RFC 8460 §4.4, to check that the hand-written decoder agrees with
// encoding/json on input both accept.
type refReport struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start time.Time `json:"start-datetime"`
		End   time.Time `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string `json:"contact-info"`
	ReportID    string `json:"report-id"`
	Policies    []struct {
		Policy struct {
			Type   string   `json:"policy-type"`
			String []string `json:"policy-string"`
			Domain string   `json:"policy-domain"`
			MXHost []string `json:"mx-host"`
		} `json:"policy"`
		Summary struct {
			Success int64 `json:"total-successful-session-count"`
			Failure int64 `json:"total-failure-session-count"`
		} `json:"summary"`
		FailureDetails []struct {
			ResultType            string `json:"result-type"`
			SendingMTAIP          string `json:"sending-mta-ip"`
			ReceivingMXHostname   string `json:"receiving-mx-hostname"`
			ReceivingMXHelo       string `json:"receiving-mx-helo"`
			ReceivingIP           string `json:"receiving-ip"`
			FailedSessionCount    int64  `json:"failed-session-count"`
			AdditionalInformation string `json:"additional-information"`
			FailureReasonCode     string `json:"failure-reason-code"`
		} `json:"failure-details"`
	} `json:"policies"`
}

// plainKeys reports whether every object in the JSON text has distinct
// member names and none that matches a schema name only without regard to
// case (encoding/json would merge or fold those).
func plainKeys(data []byte) bool {
	known := []string{"organization-name", "date-range", "start-datetime", "end-datetime", "contact-info",
		"report-id", "policies", "policy", "policy-type", "policy-string", "policy-domain", "mx-host", "summary",
		"total-successful-session-count", "total-failure-session-count", "failure-details", "result-type",
		"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "failed-session-count",
		"additional-information", "failure-reason-code"}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []map[string]bool
	var inObject []bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return err == io.EOF
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				inObject = append(inObject, true)
				expectKey = true
				continue
			case '[':
				inObject = append(inObject, false)
			case '}', ']':
				if v == '}' {
					stack = stack[:len(stack)-1]
				}
				inObject = inObject[:len(inObject)-1]
			}
		case string:
			if expectKey && len(inObject) > 0 && inObject[len(inObject)-1] {
				keys := stack[len(stack)-1]
				if keys[v] {
					return false
				}
				keys[v] = true
				for _, k := range known {
					if strings.EqualFold(k, v) && k != v {
						return false
					}
				}
				expectKey = false
				continue
			}
		}
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

// agrees compares a report with encoding/json's reading of the same text.
func agrees(r *Report, ref *refReport) bool {
	if r.OrganizationName != ref.OrganizationName || r.ContactInfo != ref.ContactInfo || r.ReportID != ref.ReportID ||
		!r.DateRange.Start.Equal(ref.DateRange.Start) || !r.DateRange.End.Equal(ref.DateRange.End) ||
		len(r.Policies) != len(ref.Policies) {
		return false
	}
	ip := func(a netip.Addr, s string) bool {
		want, err := netip.ParseAddr(s)
		if err != nil || want.Zone() != "" {
			return !a.IsValid()
		}
		return a == want
	}
	strs := func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }
	for i, p := range r.Policies {
		q := ref.Policies[i]
		if string(p.Policy.Type) != q.Policy.Type || !strs(p.Policy.PolicyString, q.Policy.String) ||
			p.Policy.Domain != q.Policy.Domain || !strs(p.Policy.MXHost, q.Policy.MXHost) ||
			p.Summary.TotalSuccessfulSessionCount != q.Summary.Success ||
			p.Summary.TotalFailureSessionCount != q.Summary.Failure || len(p.FailureDetails) != len(q.FailureDetails) {
			return false
		}
		for j, f := range p.FailureDetails {
			g := q.FailureDetails[j]
			if string(f.ResultType) != g.ResultType || !ip(f.SendingMTAIP, g.SendingMTAIP) ||
				f.ReceivingMXHostname != g.ReceivingMXHostname || f.ReceivingMXHelo != g.ReceivingMXHelo ||
				!ip(f.ReceivingIP, g.ReceivingIP) || f.FailedSessionCount != g.FailedSessionCount ||
				f.AdditionalInformation != g.AdditionalInformation || f.FailureReasonCode != g.FailureReasonCode {
				return false
			}
		}
	}
	return true
}

func FuzzParseReport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	small := []byte(sampleReportJSON("", "", "", ""))
	f.Add(small)
	f.Add(gzipBytes(f, small))
	f.Add([]byte(`{"policies":[{"policy":{"mx-host":"a","policy-string":"b"},"failure-details":[{"sending-mta-ip":""}]}],"date-range":{"start-datetime":"2024-01-01T00:00:00"}}`))
	f.Add([]byte(`{"organization-name":"\ud800\u00e9\\","policies":[],"x":[1.5e3,true,null,{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(bytes.NewReader(data))
		isGzip := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		if err != nil {
			if !errors.Is(err, ErrInvalidReport) {
				t.Fatalf("error %v does not match ErrInvalidReport", err)
			}
			var se *SyntaxError
			if !isGzip && errors.As(err, &se) && se.Path == "" && json.Valid(data) &&
				!strings.HasPrefix(se.Msg, "a report must be a JSON object") && se.Msg != "exceeded max depth" {
				t.Fatalf("syntax error %v for JSON that encoding/json accepts", err)
			}
			return
		}
		if !isGzip && !json.Valid(data) {
			t.Fatalf("decoded JSON that encoding/json rejects: %q", data)
		}
		// Round trip: decode(encode(r)) == r, with no deviations left, and
		// the encoding is stable.
		b, err := r.MarshalJSON()
		if err != nil {
			// Only years RFC 3339 cannot write fail.
			if errors.Is(err, errYear) {
				return
			}
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(b) {
			t.Fatalf("MarshalJSON gave invalid JSON: %s", b)
		}
		again, err := ParseReport(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-encoded report does not decode: %v\n%s", err, b)
		}
		if !sameReport(r, again) {
			t.Fatalf("round trip changed the report:\n%#v\n%#v\n%s", r, again, b)
		}
		if len(again.notes) != 0 {
			t.Fatalf("re-encoded report has deviations %q", notePaths(again))
		}
		if b2, _ := again.MarshalJSON(); !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b, b2)
		}
		// Validate never panics and its findings name paths.
		if err := r.Validate(); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Validate: %v", err)
			}
		}
		// Agreement with encoding/json where both read the input alike.
		if isGzip || !plainKeys(data) {
			return
		}
		var ref refReport
		if json.Unmarshal(data, &ref) == nil && !agrees(r, &ref) {
			t.Fatalf("decoder and encoding/json disagree on %q:\n%#v\n%#v", data, r, ref)
		}
	})
}
