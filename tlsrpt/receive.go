package tlsrpt

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// DefaultReadTimeout bounds the reading of a request body by a Handler
// whose ReadTimeout is zero.
const DefaultReadTimeout = time.Minute

// DefaultMaxConcurrent is the number of reports a Handler whose
// MaxConcurrent is zero decodes at once.
const DefaultMaxConcurrent = 4

// maxReplyLen caps the text of a Handler's answer (and of the reason it
// logs), so that no answer grows with what a client sent.
const maxReplyLen = 512

// A Handler receives reports POSTed to a policy domain's https: rua URI
// (RFC 8460 §5.4). It accepts a POST whose Content-Type is
// application/tlsrpt+gzip or application/tlsrpt+json, reads the body with
// the limits of Decoder, decodes the report and calls Report with it.
//
// Answers, each with a one-line text/plain body:
//
//   - 200 OK: the report was decoded and Report returned nil;
//   - 405 Method Not Allowed (with Allow: POST): not a POST;
//   - 415 Unsupported Media Type: another media type, or a Content-Encoding;
//   - 413 Content Too Large: a body or decompressed report over the limits;
//   - 400 Bad Request: a body that is not a report (bad gzip, bad JSON,
//     wrong value types), that could not be read in time, or, with Strict,
//     that fails Validate;
//   - 500 Internal Server Error: Report returned an error, so the sender
//     may try again later (§5.5);
//   - 503 Service Unavailable (with Retry-After): MaxConcurrent reports
//     were being decoded for all of ReadTimeout, so the sender may try
//     again later.
//
// An answer's text is at most 512 bytes and quotes at most 64 bytes of any
// value the client sent.
//
// Reports are untrusted (§5.6, §7): the body is read with a size limit and
// a deadline, and a Handler never panics on bad input. Its memory is
// bounded: at most MaxConcurrent requests are read and decoded at once
// (the others wait, their bodies unread), each within the bound of the
// package documentation (Limits), so that a Handler with the default
// limits holds at most about DefaultMaxConcurrent × (4 ×
// DefaultMaxReportSize + the count limits' share), whatever clients send.
type Handler struct {
	// Report receives each accepted report. ctx is the request's context
	// and carries the request: RequestFromContext returns it, for its
	// RemoteAddr, URL or headers (its body has been read). Report must not
	// keep ctx or the request. The report's strings share the memory of
	// its decoded JSON text: to keep the report (or any string of it)
	// after Report returns, keep r.Clone() (see Report.Clone).
	Report func(ctx context.Context, r *Report) error
	// Decoder holds the size limits: MaxCompressedSize caps the request
	// body, MaxReportSize the JSON after decompression. The zero value
	// uses the defaults.
	Decoder Decoder
	// Strict rejects reports that Validate finds problems in. By default
	// they are accepted, because reports of real senders often deviate
	// harmlessly (see the package documentation); Report can call
	// Validate itself.
	Strict bool
	// ReadTimeout bounds reading the request body, and the wait for a
	// turn to decode; zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxConcurrent caps the requests whose bodies are read and decoded
	// at once (a report is held until Report returns); zero means
	// DefaultMaxConcurrent. Memory grows with it; throughput does not,
	// past the number of CPUs.
	MaxConcurrent int
	// Logger receives a line per rejected request; nil means
	// slog.Default().
	Logger *slog.Logger

	slots atomic.Value // chan struct{}: a token per decode in progress
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// ServeHTTP handles one POSTed report.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, req, http.StatusMethodNotAllowed, "reports are POSTed (RFC 8460 §5.4)")
		return
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (mt != MediaTypeGzip && mt != MediaTypeJSON) {
		h.reply(w, req, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %s is not %s or %s", escape.Quote(req.Header.Get("Content-Type")), MediaTypeGzip, MediaTypeJSON))
		return
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		h.reply(w, req, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Encoding %s is not supported; send %s instead", escape.Quote(ce), MediaTypeGzip))
		return
	}
	maxIn, _ := h.Decoder.limits()
	if req.ContentLength > maxIn {
		h.reply(w, req, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("body of %d bytes is over the limit of %d bytes", req.ContentLength, maxIn))
		return
	}
	timeout := h.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	if !h.acquire(req.Context(), timeout) {
		w.Header().Set("Retry-After", "60")
		h.reply(w, req, http.StatusServiceUnavailable, "too many reports at once; try again later")
		return
	}
	defer h.release()
	// Not every ResponseWriter supports deadlines; the server's own
	// timeouts apply then.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))

	r, err := h.Decoder.decode(req.Body, max(req.ContentLength, 0))
	switch {
	case errors.Is(err, ErrTooLarge):
		h.reply(w, req, http.StatusRequestEntityTooLarge, err.Error())
		return
	case errors.Is(err, ErrInvalidReport):
		h.reply(w, req, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.reply(w, req, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	if h.Strict {
		if err := r.Validate(); err != nil {
			h.reply(w, req, http.StatusBadRequest, err.Error())
			return
		}
	}
	if h.Report == nil {
		h.reply(w, req, http.StatusInternalServerError, "no Report function to hand the report to")
		return
	}
	if err := h.Report(context.WithValue(req.Context(), requestKey{}, req), r); err != nil {
		h.logger().Error("tlsrpt: report not taken", "report-id", escape.Quote(r.ReportID), "err", err)
		h.reply(w, req, http.StatusInternalServerError, "the report could not be stored; try again later")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "report accepted\n")
}

// acquire waits for a turn to decode, until ctx ends or timeout passes.
func (h *Handler) acquire(ctx context.Context, timeout time.Duration) bool {
	slots := h.tokens()
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (h *Handler) release() { <-h.tokens() }

// tokens returns the channel of decode tokens, made on first use.
func (h *Handler) tokens() chan struct{} {
	if c, ok := h.slots.Load().(chan struct{}); ok {
		return c
	}
	n := h.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	h.slots.CompareAndSwap(nil, make(chan struct{}, n))
	return h.slots.Load().(chan struct{})
}

func (h *Handler) reply(w http.ResponseWriter, req *http.Request, code int, msg string) {
	if len(msg) > maxReplyLen {
		n := maxReplyLen - 3
		for n > 0 && msg[n]&0xC0 == 0x80 {
			n-- // do not cut a UTF-8 sequence
		}
		msg = msg[:n] + "..."
	}
	if code != http.StatusInternalServerError {
		h.logger().Info("tlsrpt: report rejected", "remote", req.RemoteAddr, "status", code, "reason", msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, "tlsrpt: "+strings.TrimPrefix(msg, "tlsrpt: ")+"\n")
}

// requestKey is the context key of the request a Handler passes to Report.
type requestKey struct{}

// RequestFromContext returns the request whose report a Handler passes to
// its Report function with ctx, and whether ctx carries one.
func RequestFromContext(ctx context.Context) (*http.Request, bool) {
	req, ok := ctx.Value(requestKey{}).(*http.Request)
	return req, ok
}

// ErrNoReport is returned by ParseMessage for an email that holds no TLS
// report.
var ErrNoReport = errors.New("tlsrpt: no TLS report in the message")

// Limits of ParseMessage.
const (
	// MaxMessageSize caps the bytes ParseMessage reads: 16 MiB, room for
	// a report part of DefaultMaxCompressedSize in base64.
	MaxMessageSize = 16 << 20
	// maxPartDepth caps the nesting of multiparts; maxParts the parts
	// looked at in all.
	maxPartDepth = 8
	maxParts     = 200
)

// messageError is an error about a message's structure or size; it
// matches ErrInvalidReport and, for sizes, ErrTooLarge.
type messageError struct {
	msg    string
	tooBig bool
	err    error
}

func (e *messageError) Error() string {
	if e.err != nil {
		return "tlsrpt: invalid report message: " + e.msg + ": " + e.err.Error()
	}
	return "tlsrpt: invalid report message: " + e.msg
}

func (e *messageError) Unwrap() error { return e.err }

func (e *messageError) Is(target error) bool {
	return target == ErrInvalidReport || (e.tooBig && target == ErrTooLarge)
}

// ParseMessage reads the report of a report email (RFC 8460 §5.3): a
// multipart/report with report-type "tlsrpt" (possibly inside other
// multiparts, as forwarding gateways wrap it) whose report part is
// application/tlsrpt+gzip or application/tlsrpt+json, or a message that is
// the report part itself. Transfer encodings base64, quoted-printable,
// 7bit, 8bit and binary are decoded; gzip is detected by its magic bytes.
// Reading is lenient where real senders deviate: inside a tlsrpt
// multipart/report, a part of type application/tlsrpt, application/gzip,
// application/json or application/octet-stream whose file name ends in
// .json.gz or .json (or, for application/tlsrpt, has none) is the report.
//
// ParseMessage reads at most MaxMessageSize bytes and decodes with the
// default limits of a zero Decoder; a larger message or report is an error
// matching ErrTooLarge. A message without a report part, such as a
// delivery status notification for a report, is ErrNoReport; a report part
// that does not decode is an error matching ErrInvalidReport.
//
// ParseMessage does not check the DKIM signature that §5.3 requires; a
// receiver must verify it first and drop unsigned reports. The headers
// (Subject, TLS-Report-Domain) are not read: the report is authoritative
// (§5.6).
func ParseMessage(r io.Reader) (*Report, error) {
	lr := &messageLimit{r: r, n: MaxMessageSize}
	msg, err := mail.ReadMessage(bufio.NewReader(lr))
	if err != nil {
		if lr.exceeded {
			return nil, lr.err()
		}
		return nil, fmt.Errorf("%w: not an email message: %v", ErrNoReport, err)
	}
	p := &messageParser{limit: lr}
	rep, err := p.entity(textproto.MIMEHeader(msg.Header), msg.Body, 0, false)
	if err == nil && rep == nil {
		err = ErrNoReport
	}
	if err != nil && lr.exceeded {
		return nil, lr.err()
	}
	return rep, err
}

// messageLimit reads at most n bytes; past them it fails.
type messageLimit struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *messageLimit) err() error {
	return &messageError{msg: fmt.Sprintf("message longer than %d bytes", MaxMessageSize), tooBig: true}
}

func (l *messageLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Tell a message of exactly the limit from a longer one.
		var b [1]byte
		for range 100 {
			n, err := l.r.Read(b[:])
			if n > 0 {
				l.exceeded = true
				return 0, l.err()
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

type messageParser struct {
	limit *messageLimit
	parts int
}

// entity returns the report in the MIME entity with header h and body, or
// nil if it has none. inReport says whether the entity is inside a
// multipart/report of report-type tlsrpt.
func (p *messageParser) entity(h textproto.MIMEHeader, body io.Reader, depth int, inReport bool) (*Report, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return nil, nil // text/plain (RFC 2045 §5.2)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil && mt == "" {
		return nil, nil
	}
	if strings.HasPrefix(mt, "multipart/") {
		if mt == "multipart/report" {
			if !strings.EqualFold(params["report-type"], "tlsrpt") {
				return nil, nil // another kind of report, such as a DSN
			}
			inReport = true
		}
		return p.multipart(body, params["boundary"], depth, inReport)
	}
	if !isReportPart(mt, params, h, inReport) {
		return nil, nil
	}
	dec, err := transferDecoder(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, err
	}
	var d Decoder
	rep, err := d.Decode(dec)
	if err != nil {
		if p.limit.exceeded {
			return nil, p.limit.err()
		}
		if errors.Is(err, ErrInvalidReport) {
			return nil, err
		}
		return nil, &messageError{msg: "report part", err: err}
	}
	return rep, nil
}

func (p *messageParser) multipart(body io.Reader, boundary string, depth int, inReport bool) (*Report, error) {
	if boundary == "" {
		return nil, &messageError{msg: "multipart without a boundary"}
	}
	if depth >= maxPartDepth {
		return nil, &messageError{msg: fmt.Sprintf("multiparts nested more than %d deep", maxPartDepth)}
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			if p.limit.exceeded {
				return nil, p.limit.err()
			}
			return nil, &messageError{msg: "bad multipart", err: err}
		}
		if p.parts++; p.parts > maxParts {
			return nil, &messageError{msg: fmt.Sprintf("more than %d MIME parts", maxParts)}
		}
		rep, err := p.entity(part.Header, part, depth+1, inReport)
		if rep != nil || err != nil {
			return rep, err
		}
	}
}

// isReportPart reports whether a part of media type mt is the report.
func isReportPart(mt string, params map[string]string, h textproto.MIMEHeader, inReport bool) bool {
	switch mt {
	case MediaTypeGzip, MediaTypeJSON:
		return true
	}
	if !inReport {
		return false
	}
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	name = strings.ToLower(name)
	named := strings.HasSuffix(name, ".json.gz") || strings.HasSuffix(name, ".json")
	switch mt {
	case "application/tlsrpt":
		return name == "" || named
	case "application/gzip", "application/x-gzip", "application/json", "application/octet-stream":
		return named
	}
	return false
}

// transferDecoder undoes a Content-Transfer-Encoding (RFC 2045 §6).
func transferDecoder(cte string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r}), nil
	case "quoted-printable":
		return quotedprintable.NewReader(r), nil
	}
	return nil, &messageError{msg: "report part in unknown Content-Transfer-Encoding " + escape.Quote(cte)}
}

// base64Filter drops the white space that base64 bodies carry between
// lines (the decoder itself skips only CR and LF).
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
