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
)

// ErrInvalidReport is matched (errors.Is) by every error that says a report
// is malformed, too large or fails validation: *SyntaxError,
// *ValidationError, ErrTooLarge and gzip errors.
var ErrInvalidReport = errors.New("tlsrpt: invalid report")

// ErrTooLarge is matched (errors.Is) by the error a Decoder returns when the
// input or the decompressed JSON exceeds its limit.
var ErrTooLarge = errors.New("tlsrpt: report too large")

// reportError is a report error that is not a syntax error: a size limit or
// a broken gzip stream. It matches ErrInvalidReport and, for size limits,
// ErrTooLarge.
type reportError struct {
	msg     string
	tooBig  bool
	wrapped error
}

func (e *reportError) Error() string {
	if e.wrapped != nil {
		return "tlsrpt: invalid report: " + e.msg + ": " + e.wrapped.Error()
	}
	return "tlsrpt: invalid report: " + e.msg
}

func (e *reportError) Unwrap() error { return e.wrapped }

func (e *reportError) Is(target error) bool {
	return target == ErrInvalidReport || (e.tooBig && target == ErrTooLarge)
}

// A Decoder reads reports with size limits. Its zero value uses the default
// limits; it holds no state between calls and is safe for concurrent use.
type Decoder struct {
	// MaxCompressedSize caps the bytes read from the input, gzip or plain
	// JSON. Zero means DefaultMaxCompressedSize.
	MaxCompressedSize int64
	// MaxReportSize caps the JSON text, after decompression for gzip
	// input. Zero means DefaultMaxReportSize.
	MaxReportSize int64
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
// an error matching ErrTooLarge, returned without reading further. Data
// after the JSON value (other than white space) or after the gzip stream is
// an error. Errors from r itself are returned wrapped, not as report errors.
func (d *Decoder) Decode(r io.Reader) (*Report, error) {
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
		text, err = readText(rest, limit, sizeHint(r)+int64(n))
		switch {
		case in.err != nil:
			err = fmt.Errorf("tlsrpt: reading report: %w", in.err)
		case err == errLimit && limit == maxIn:
			err = inputTooLarge(maxIn)
		case err == errLimit:
			err = &reportError{msg: fmt.Sprintf("JSON text longer than %d bytes (MaxReportSize)", maxOut), tooBig: true}
		}
	}
	if err != nil {
		return nil, err
	}
	rep := new(Report)
	if err := decodeReport(text, rep); err != nil {
		return nil, err
	}
	return rep, nil
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
	var (
		sb    strings.Builder
		total int64
		buf   = make([]byte, 32<<10)
	)
	zr, err := gzip.NewReader(br)
	for err == nil {
		zr.Multistream(false)
		if total, err = readInto(&sb, zr, buf, total, maxOut); err != nil {
			break
		}
		next, _ := br.Peek(2)
		if len(next) == 0 {
			if in.n > 0 {
				return sb.String(), nil
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
		return "", &reportError{msg: fmt.Sprintf("gzip stream expands past %d bytes (MaxReportSize)", maxOut), tooBig: true}
	case err == errTrailing:
		return "", &reportError{msg: "data after the gzip stream"}
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return "", &reportError{msg: "truncated gzip stream", wrapped: err}
	default:
		return "", &reportError{msg: "bad gzip stream", wrapped: err}
	}
}

func inputTooLarge(maxIn int64) error {
	return &reportError{msg: fmt.Sprintf("input longer than %d bytes (MaxCompressedSize)", maxIn), tooBig: true}
}

// sizeHint returns the number of unread bytes of readers that know it.
func sizeHint(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return 0
}

// errLimit is returned by readInto when the input exceeds its limit,
// errTrailing by gunzip for data after the gzip stream.
var (
	errLimit    = errors.New("limit exceeded")
	errTrailing = errors.New("data after the gzip stream")
)

// readText reads r to EOF into a string of at most limit bytes; a longer
// input is errLimit after reading limit+1 bytes.
func readText(r io.Reader, limit, hint int64) (string, error) {
	var sb strings.Builder
	if hint > 0 {
		sb.Grow(int(min(hint, limit+1)))
	}
	if _, err := readInto(&sb, r, make([]byte, 32<<10), 0, limit); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// readInto appends r to sb until EOF, using buf; total counts the bytes
// written to sb so far, which may not exceed limit.
func readInto(sb *strings.Builder, r io.Reader, buf []byte, total, limit int64) (int64, error) {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if total > limit {
				return total, errLimit
			}
			sb.Write(buf[:n])
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
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
