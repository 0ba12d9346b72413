package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// The hostile inputs of issue 11, generated on the fly as gzip streams of
// a few kilobytes: each test asserts the memory bound of the package
// documentation (decodeBound) on the bytes allocated by the decode, and
// that the error is a short line.

// hostileHead begins a report; hostilePolicy begins a policy result whose
// failure-details array is open.
const (
	hostileHead   = `{"organization-name":"o","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"r","policies":[`
	hostilePolicy = `{"policy":{"policy-type":"no-policy-found","policy-domain":"d.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":1},"failure-details":[`
)

// repeat is s written n times.
type repeat struct {
	s string
	n int
}

// hostileGzip returns a gzip stream of the concatenation of parts
// (strings and repeats) and the length of that text. Each part is a gzip
// member of its own, and a repeat one member of about 1 MiB appended as
// often as needed, so that making 50 MiB of text compresses 1 MiB.
func hostileGzip(tb testing.TB, parts ...any) ([]byte, int64) {
	tb.Helper()
	var out bytes.Buffer
	var n int64
	member := func(s string) []byte {
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(zw, s)
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		return b.Bytes()
	}
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out.Write(member(p))
			n += int64(len(p))
		case repeat:
			per := max(1, (1<<20)/len(p.s))
			if k := p.n / per; k > 0 {
				m := member(strings.Repeat(p.s, per))
				for range k {
					out.Write(m)
				}
			}
			if rest := p.n % per; rest > 0 {
				out.Write(member(strings.Repeat(p.s, rest)))
			}
			n += int64(p.n) * int64(len(p.s))
		}
	}
	return out.Bytes(), n
}

// allocated returns the bytes f allocates.
func allocated(f func()) int64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return int64(m1.TotalAlloc - m0.TotalAlloc)
}

// maxErrorLen bounds the error of a hostile input: a message, a path and
// one value quoted in at most 4×64 bytes.
const maxErrorLen = 512

// checkHostile decodes gz, whose JSON text has n bytes, and checks the
// error against want (errors.As target check), its length, and the bytes
// allocated against decodeBound with entries and strs.
func checkHostile(t *testing.T, gz []byte, n, entries, strs int64, check func(error) bool) {
	t.Helper()
	var err error
	got := allocated(func() { _, err = ParseReport(bytes.NewReader(gz)) })
	if err == nil || !check(err) {
		t.Fatalf("error %v", err)
	}
	if len(err.Error()) > maxErrorLen {
		t.Errorf("error of %d bytes: %.200s", len(err.Error()), err)
	}
	bound := decodeBound(n, entries, strs)
	t.Logf("%d B gzip, %d B JSON: allocated %d B (%.2f B per JSON byte), bound %d B; error %d B: %s",
		len(gz), n, got, float64(got)/float64(n), bound, len(err.Error()), err)
	if got > bound {
		t.Errorf("decode allocated %d bytes, bound %d", got, bound)
	}
}

func isLimit(name string) func(error) bool {
	return func(err error) bool {
		var le *LimitError
		return errors.As(err, &le) && le.Limit == name && errors.Is(err, ErrTooLarge)
	}
}

func isSyntax(msg string) func(error) bool {
	return func(err error) bool {
		var se *SyntaxError
		return errors.As(err, &se) && strings.Contains(se.Msg, msg)
	}
}

// TestDecode4MillionEmptyDetails: 4×10^6 "{}" failure details, 12 MB of
// JSON in 12 KB of gzip, stop at MaxFailureDetails (before: 25 s and a
// peak RSS of 3 GB).
func TestDecode4MillionEmptyDetails(t *testing.T) {
	gz, n := hostileGzip(t, hostileHead, hostilePolicy, "{}", repeat{",{}", 4e6 - 1}, "]}]}")
	checkHostile(t, gz, n, 1+DefaultMaxReportFailureDetails+1, 0, isLimit("MaxFailureDetails"))
}

// TestDecode5MillionEmptyPolicies: 5×10^6 "{}" policy results stop at
// MaxPolicies (before: 21 s, 2.1 GB).
func TestDecode5MillionEmptyPolicies(t *testing.T) {
	gz, n := hostileGzip(t, hostileHead, "{}", repeat{",{}", 5e6 - 1}, "]}")
	checkHostile(t, gz, n, DefaultMaxPolicies+1, 0, isLimit("MaxPolicies"))
}

// TestDecode10MiBInteger: a failed-session-count of 10 MiB of "9" is a
// short error (before: an error string of 10 MB).
func TestDecode10MiBInteger(t *testing.T) {
	gz, n := hostileGzip(t, hostileHead, hostilePolicy, `{"result-type":"validation-failure","failed-session-count":`, repeat{"9", 10 << 20}, "}]}]}")
	checkHostile(t, gz, n, 2, 0, isSyntax("count out of range"))
}

// TestDecode8MiControlCharacters: a start-datetime of 8 Mi escaped
// control characters (48 MiB of JSON) is a short error (before: 34 MB of
// error, 552 MB allocated).
func TestDecode8MiControlCharacters(t *testing.T) {
	gz, n := hostileGzip(t, `{"organization-name":"o","date-range":{"start-datetime":"`, repeat{`\u0001`, 8 << 20}, `"}}`)
	checkHostile(t, gz, n, 0, 0, isSyntax("not an RFC 3339 date-time"))
}

// TestDecodeDuplicatesAndNulls: members repeated and nulls cost no more
// than real entries: one note per object, nothing per null.
func TestDecodeDuplicatesAndNulls(t *testing.T) {
	const k = 200000
	gz, n := hostileGzip(t, hostileHead, hostilePolicy,
		`{"result-type":"x","failed-session-count":1`, repeat{`,"result-type":null,"failed-session-count":1`, k}, "}]}]}")
	var r *Report
	var err error
	got := allocated(func() { r, err = ParseReport(bytes.NewReader(gz)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(r.notes) != 1 {
		t.Errorf("%d notes, want 1", len(r.notes))
	}
	if bound := decodeBound(n, 2, 0); got > bound {
		t.Errorf("decode allocated %d bytes, bound %d", got, bound)
	}
}

// TestValidateBounded: Validate of a report with MaxFailureDetails bad
// failure details lists MaxProblems problems and counts the others, with
// memory bounded by the entries.
func TestValidateBounded(t *testing.T) {
	const k = DefaultMaxReportFailureDetails - 1
	gz, n := hostileGzip(t, hostileHead, hostilePolicy,
		`{"sending-mta-ip":""}`, repeat{`,{"sending-mta-ip":"","result-type":"bad"}`, k}, "]}]}")
	r, err := ParseReport(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var verr error
	got := allocated(func() { verr = r.Validate() })
	var ve *ValidationError
	if !errors.As(verr, &ve) {
		t.Fatalf("Validate = %v", verr)
	}
	// Per detail: the empty address (a note), the missing count (a note),
	// and, but for the first, the unknown result type.
	want := 2*(k+1) + k + 1 // and the policy's sum check
	if len(ve.Problems) != MaxProblems || len(ve.Problems)+ve.Omitted != want-1 && len(ve.Problems)+ve.Omitted != want {
		t.Errorf("%d problems listed, %d omitted; want %d in all", len(ve.Problems), ve.Omitted, want)
	}
	if l := len(verr.Error()); l > MaxProblems*(100+4*64) {
		t.Errorf("error of %d bytes", l)
	}
	// Nothing is formatted past MaxProblems: the memory does not grow
	// with the report.
	if bound := int64(1 << 20); got > bound {
		t.Errorf("Validate allocated %d bytes for %d details (JSON %d bytes), bound %d", got, k+1, n, bound)
	}
	t.Logf("Validate: %d problems listed, %d omitted, %d bytes allocated, error %d bytes", len(ve.Problems), ve.Omitted, got, len(verr.Error()))
}

// FuzzParseReportMemory: the property is the memory bound itself. For any
// input, plain or gzip, the bytes a decode allocates stay within
// decodeBound of its JSON text, counting every two bytes of text as a
// possible entry or policy string (the least "{}," and "”," take) and
// each invalid UTF-8 byte at its price; the fixed term is the plain
// case's (no chunks: the length is known), plus the gzip state and one
// chunk for gzip.
func FuzzParseReportMemory(f *testing.F) {
	f.Add([]byte(sampleReportJSON("", "", "", "")))
	f.Add([]byte(hostileHead + hostilePolicy + strings.Repeat("{},", 5000) + "{}]}]}"))
	f.Add([]byte(hostileHead + strings.Repeat("{},", 5000) + "{}]}"))
	f.Add([]byte(hostileHead + `{"policy":{"mx-host":[` + strings.Repeat(`"",`, 5000) + `""]}}]}`))
	f.Add([]byte(hostileHead + hostilePolicy + `{"result-type":"` + strings.Repeat("\xff", 5000) + `"}]}]}`))
	f.Add([]byte(hostileHead + hostilePolicy + strings.Repeat(`{"result-type":null,"result-type":"\u00e9","sending-mta-ip":"x"},`, 1000) + "{}]}]}"))
	gz, _ := hostileGzip(f, hostileHead, hostilePolicy, "{}", repeat{",{}", 20000}, "]}]}")
	f.Add(gz)
	f.Fuzz(func(t *testing.T, data []byte) {
		text := data
		isGzip := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		if isGzip {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return
			}
			text, err = io.ReadAll(io.LimitReader(zr, DefaultMaxReportSize+1))
			if err != nil {
				return
			}
		}
		n := int64(len(text))
		invalid := int64(0)
		for i := 0; i < len(text); {
			r, size := utf8.DecodeRune(text[i:])
			if r == utf8.RuneError && size == 1 {
				invalid++
			}
			i += size
		}
		entries := min(n/2, DefaultMaxPolicies+DefaultMaxReportFailureDetails+2)
		strs := min(n/2, maxPolicyStrings+1)
		bound := decodeBound(n, entries, strs) - boundFixed + 96<<10 + boundPerInvalidByte*invalid
		if isGzip {
			bound += 64<<10 + firstChunk + min(n, maxChunk)
		}
		got := allocated(func() { ParseReport(bytes.NewReader(data)) })
		if got > bound {
			t.Fatalf("%d bytes in (%d of JSON): allocated %d bytes, bound %d", len(data), n, got, bound)
		}
	})
}
