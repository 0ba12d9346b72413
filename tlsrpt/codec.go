package tlsrpt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Default limits of a Decoder whose fields are zero.
const (
	// DefaultMaxCompressedSize caps the bytes read from the input (gzip or
	// plain JSON): 10 MiB.
	DefaultMaxCompressedSize = 10 << 20
	// DefaultMaxReportSize caps the JSON text after decompression: 50 MiB.
	// A day of reports for a busy domain is a few hundred kilobytes.
	DefaultMaxReportSize = 50 << 20
	// DefaultMaxPolicies caps the policy results of one report: 10 000.
	// Real reports hold one or a few per policy domain.
	DefaultMaxPolicies = 10000
	// DefaultMaxReportFailureDetails caps the failure details of one
	// report, over all its policy results: 100 000. Real reports of the
	// largest senders hold a few hundred; a Collector writes at most
	// DefaultMaxFailureDetails per policy, plus its overflow details.
	DefaultMaxReportFailureDetails = 100000
	// maxPolicyStrings caps the policy-string and mx-host elements of one
	// report, over all its policies. A policy file holds at most 64 KiB
	// (RFC 8461 §3.3 lets senders stop there), a few thousand lines.
	maxPolicyStrings = 100000
)

// The memory bound of a decode, as the package documentation states it:
// decoding a report of n bytes of JSON text that holds e policy results and
// failure details and k policy-string and mx-host elements allocates at
// most decodeBound(n, e, k) bytes in all (so its peak heap is no more),
// when its strings are valid UTF-8; each invalid byte in a string the
// report keeps costs boundPerInvalidByte more (U+FFFD takes three bytes).
const (
	boundPerByte        = 3       // the text read in chunks, joined; decoded strings
	boundPerEntry       = 1280    // a PolicyResult or FailureDetail, its growth and notes
	boundPerString      = 96      // a string header, its growth
	boundFixed          = 2 << 20 // the last chunk, buffers, gzip state
	boundPerInvalidByte = 2
)

func decodeBound(n, entries, strs int64) int64 {
	return boundPerByte*n + boundPerEntry*entries + boundPerString*strs + boundFixed
}

// ErrInvalidReport is matched (errors.Is) by every error that says a report
// is malformed, too large or fails validation: *SyntaxError,
// *ValidationError, ErrTooLarge and gzip errors.
var ErrInvalidReport = errors.New("tlsrpt: invalid report")

// ErrTooLarge is matched (errors.Is) by the error a Decoder returns when the
// input, the decompressed JSON or a count exceeds its limit: a *LimitError.
var ErrTooLarge = errors.New("tlsrpt: report too large")

// A LimitError reports input past one of a Decoder's limits: too many
// bytes, before or after decompression, or too many policies, failure
// details or policy strings. It matches ErrTooLarge and ErrInvalidReport.
type LimitError struct {
	// Limit names the limit: the Decoder field ("MaxCompressedSize",
	// "MaxReportSize", "MaxPolicies", "MaxFailureDetails") or, for the
	// fixed cap on policy-string and mx-host elements, "policy strings".
	Limit string
	// Max is the value of the limit that was exceeded.
	Max int64
	// Path is the JSON path of the array that went past a count limit,
	// such as "policies[3].failure-details"; empty for byte limits.
	Path string
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "MaxCompressedSize":
		return fmt.Sprintf("tlsrpt: invalid report: input longer than %d bytes (MaxCompressedSize)", e.Max)
	case "MaxReportSize":
		return fmt.Sprintf("tlsrpt: invalid report: JSON text longer than %d bytes (MaxReportSize)", e.Max)
	case "MaxPolicies":
		return fmt.Sprintf("tlsrpt: invalid report: %s: more than %d policy results (MaxPolicies)", e.Path, e.Max)
	case "MaxFailureDetails":
		return fmt.Sprintf("tlsrpt: invalid report: %s: more than %d failure details in the report (MaxFailureDetails)", e.Path, e.Max)
	}
	return fmt.Sprintf("tlsrpt: invalid report: %s: more than %d %s in the report", e.Path, e.Max, e.Limit)
}

// Is makes a LimitError match ErrTooLarge and ErrInvalidReport.
func (e *LimitError) Is(target error) bool {
	return target == ErrTooLarge || target == ErrInvalidReport
}

// reportError is a report error that is neither a syntax error nor a
// limit: a broken gzip stream. It matches ErrInvalidReport.
type reportError struct {
	msg     string
	wrapped error
}

func (e *reportError) Error() string {
	if e.wrapped != nil {
		return "tlsrpt: invalid report: " + e.msg + ": " + e.wrapped.Error()
	}
	return "tlsrpt: invalid report: " + e.msg
}

func (e *reportError) Unwrap() error { return e.wrapped }

func (e *reportError) Is(target error) bool { return target == ErrInvalidReport }

// A Decoder reads reports with size limits. Its zero value uses the default
// limits; it holds no state between calls and is safe for concurrent use.
type Decoder struct {
	// MaxCompressedSize caps the bytes read from the input, gzip or plain
	// JSON. Zero means DefaultMaxCompressedSize.
	MaxCompressedSize int64
	// MaxReportSize caps the JSON text, after decompression for gzip
	// input. Zero means DefaultMaxReportSize.
	MaxReportSize int64
	// MaxPolicies caps the elements of the policies array. Zero means
	// DefaultMaxPolicies.
	MaxPolicies int
	// MaxFailureDetails caps the failure details of the report, all its
	// policy results together. Zero means DefaultMaxReportFailureDetails.
	MaxFailureDetails int
}

// ParseReport reads one report, plain JSON (application/tlsrpt+json) or
// gzip-compressed JSON (application/tlsrpt+gzip, detected by its magic
// bytes), with the default limits of a zero Decoder.
//
// Reading is lenient where real senders deviate from RFC 8460 (see the
// package documentation); the deviations are kept with the report and
// returned by Validate. Syntax errors, values of the wrong type and inputs
// over the limits are errors matching ErrInvalidReport.
func ParseReport(r io.Reader) (*Report, error) {
	var d Decoder
	return d.Decode(r)
}

// Decode reads one report from r like ParseReport, with d's limits.
//
// Decode reads at most MaxCompressedSize+1 bytes from r and produces at most
// MaxReportSize+1 bytes of JSON from a gzip stream; one byte past a limit is
// an error matching ErrTooLarge, returned without reading further, and so
// are more than MaxPolicies policy results or MaxFailureDetails failure
// details (a *LimitError names the limit). Data
// after the JSON value (other than white space) or after the gzip stream is
// an error. Errors from r itself are returned wrapped, not as report errors.
func (d *Decoder) Decode(r io.Reader) (*Report, error) {
	return d.decode(r, sizeHint(r))
}

// decode is Decode with the number of bytes r holds, if known (0 if not):
// the Content-Length of a request, the Len of a bytes.Reader.
func (d *Decoder) decode(r io.Reader, hint int64) (*Report, error) {
	maxIn, maxOut := d.limits()
	in := &limitedReader{r: r, n: maxIn + 1}
	// Peek at the first two bytes for the gzip magic; a shorter input is
	// left to the JSON decoder to reject.
	var head [2]byte
	n, _ := io.ReadFull(in, head[:])
	if in.err != nil {
		return nil, fmt.Errorf("tlsrpt: reading report: %w", in.err)
	}
	rest := io.MultiReader(bytes.NewReader(head[:n]), in)
	var (
		text string
		err  error
	)
	if n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		text, err = gunzip(rest, in, maxIn, maxOut)
	} else {
		limit := min(maxIn, maxOut)
		var tb textBuffer
		tb.hint = hint
		if hint > 0 && hint < int64(n) {
			tb.hint = int64(n)
		}
		err = tb.readFrom(rest, limit)
		text = tb.String()
		switch {
		case in.err != nil:
			err = fmt.Errorf("tlsrpt: reading report: %w", in.err)
		case err == errLimit && limit == maxIn:
			err = inputTooLarge(maxIn)
		case err == errLimit:
			err = &LimitError{Limit: "MaxReportSize", Max: maxOut}
		}
	}
	if err != nil {
		return nil, err
	}
	rep := new(Report)
	if err := decodeReport(text, rep, d.counts()); err != nil {
		return nil, err
	}
	return rep, nil
}

// counts returns the count limits of d, defaults filled in.
func (d *Decoder) counts() limits {
	l := limits{policies: d.MaxPolicies, details: d.MaxFailureDetails, strings: maxPolicyStrings}
	if l.policies <= 0 {
		l.policies = DefaultMaxPolicies
	}
	if l.details <= 0 {
		l.details = DefaultMaxReportFailureDetails
	}
	return l
}

func (d *Decoder) limits() (maxIn, maxOut int64) {
	maxIn, maxOut = d.MaxCompressedSize, d.MaxReportSize
	if maxIn <= 0 {
		maxIn = DefaultMaxCompressedSize
	}
	if maxOut <= 0 {
		maxOut = DefaultMaxReportSize
	}
	return maxIn, maxOut
}

// gunzip decompresses a gzip stream of one or more members into a string
// of at most maxOut bytes; in, the bottom of r, stops after maxIn+1 bytes.
func gunzip(r io.Reader, in *limitedReader, maxIn, maxOut int64) (string, error) {
	br := bufio.NewReader(r)
	var tb textBuffer
	zr, err := gzip.NewReader(br)
	for err == nil {
		zr.Multistream(false)
		if err = tb.readFrom(zr, maxOut); err != nil {
			break
		}
		next, _ := br.Peek(2)
		if len(next) == 0 {
			if in.n > 0 {
				return tb.String(), nil
			}
			break // the input was cut at the limit
		}
		if len(next) < 2 || next[0] != 0x1f || next[1] != 0x8b {
			err = errTrailing
			break
		}
		err = zr.Reset(br) // another member
	}
	switch {
	case in.err != nil:
		return "", fmt.Errorf("tlsrpt: reading report: %w", in.err)
	case in.n <= 0:
		return "", inputTooLarge(maxIn)
	case err == errLimit:
		return "", &LimitError{Limit: "MaxReportSize", Max: maxOut}
	case err == errTrailing:
		return "", &reportError{msg: "data after the gzip stream"}
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return "", &reportError{msg: "truncated gzip stream", wrapped: err}
	default:
		return "", &reportError{msg: "bad gzip stream", wrapped: err}
	}
}

func inputTooLarge(maxIn int64) error {
	return &LimitError{Limit: "MaxCompressedSize", Max: maxIn}
}

// sizeHint returns the number of unread bytes of readers that know it.
func sizeHint(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return 0
}

// errLimit is returned by textBuffer.readFrom when the input exceeds its limit,
// errTrailing by gunzip for data after the gzip stream.
var (
	errLimit    = errors.New("limit exceeded")
	errTrailing = errors.New("data after the gzip stream")
)

// Chunk sizes of a textBuffer: the first chunk, and the largest, so that
// the chunks of an input of n bytes total at most n+maxChunk bytes.
const (
	firstChunk = 16 << 10
	maxChunk   = 1 << 20
)

// A textBuffer collects an input of unknown length in chunks, doubling
// from firstChunk to maxChunk (or one chunk of hint bytes, the length
// announced), and joins them into one string at the end. Reading n bytes
// so allocates at most n+maxChunk+firstChunk bytes for the chunks and n
// for the joined text, which only the text outlives; a slice grown by
// append would allocate about 5n.
type textBuffer struct {
	hint   int64              // the input's length, if known
	chunks []*strings.Builder // full but the last
	total  int64
	buf    []byte
}

// readFrom appends r to b until EOF; more than limit bytes in all is
// errLimit.
func (b *textBuffer) readFrom(r io.Reader, limit int64) error {
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	for {
		n, err := r.Read(b.buf)
		if n > 0 {
			b.total += int64(n)
			if b.total > limit {
				return errLimit
			}
			b.write(b.buf[:n], limit)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (b *textBuffer) write(p []byte, limit int64) {
	for len(p) > 0 {
		var c *strings.Builder
		if k := len(b.chunks); k > 0 {
			c = b.chunks[k-1]
		}
		if c == nil || c.Len() == c.Cap() {
			size := int64(firstChunk)
			switch {
			case len(b.chunks) == 0 && b.hint > 0:
				size = b.hint + 1 // one byte more to see the end
			case c != nil:
				size = min(2*int64(c.Cap()), maxChunk)
			}
			// No chunk larger than the rest the limit allows.
			size = max(min(size, limit+1-(b.total-int64(len(p)))), int64(len(p)), 1)
			c = new(strings.Builder)
			c.Grow(int(size))
			b.chunks = append(b.chunks, c)
		}
		n := min(len(p), c.Cap()-c.Len())
		c.Write(p[:n])
		p = p[n:]
	}
}

// String returns the text read. A single chunk that is mostly full is the
// text itself; otherwise the chunks are copied into a string of the exact
// length.
func (b *textBuffer) String() string {
	switch len(b.chunks) {
	case 0:
		return ""
	case 1:
		if c := b.chunks[0]; c.Len() >= c.Cap()/2 {
			return c.String()
		}
	}
	var sb strings.Builder
	sb.Grow(int(b.total))
	for _, c := range b.chunks {
		sb.WriteString(c.String())
	}
	b.chunks = nil
	return sb.String()
}

// limitedReader reads at most n bytes from r, then reports io.EOF, and
// remembers the first error r returned other than io.EOF.
type limitedReader struct {
	r   io.Reader
	n   int64 // bytes still allowed
	err error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}

// EncodeGzip writes r as a gzip-compressed JSON report, the body of an
// application/tlsrpt+gzip part or POST (RFC 8460 §5.3, §5.4), in the strict
// form of MarshalJSON. It does not validate r; senders call Validate first.
//
// It compresses at gzip.BestSpeed: report JSON is so repetitive that this
// comes within about 10% of the default level's size at more than twice
// the speed. Each call sets up a new compressor, allocating about 1 MiB,
// which takes several times as long as encoding a day's report: EncodeGzip
// suits writing one report, and an Encoder, which keeps its compressor, is
// the fast path for many (Sender keeps a pool of them).
func EncodeGzip(w io.Writer, r *Report) error {
	var e Encoder
	return e.EncodeGzip(w, r)
}

// An Encoder writes reports like EncodeGzip but keeps its compressor and
// JSON buffer between calls: compress/flate allocates about 1 MiB for a
// new compressor, several times the work of encoding a day's report. A
// sender writing many reports keeps one Encoder per goroutine. The zero
// value is ready to use. An Encoder is not safe for concurrent use; it
// holds on to a buffer as large as the largest report it wrote.
type Encoder struct {
	zw  *gzip.Writer
	buf []byte
}

// EncodeGzip writes r to w as EncodeGzip does.
func (e *Encoder) EncodeGzip(w io.Writer, r *Report) error {
	if n := r.encodedSizeHint(); cap(e.buf) < n {
		e.buf = make([]byte, 0, n)
	}
	b, err := r.appendJSON(e.buf[:0])
	if err != nil {
		return err
	}
	e.buf = b[:0]
	if e.zw == nil {
		if e.zw, err = gzip.NewWriterLevel(w, gzip.BestSpeed); err != nil {
			return err
		}
	} else {
		e.zw.Reset(w)
	}
	if _, err := e.zw.Write(b); err != nil {
		return err
	}
	return e.zw.Close()
}
