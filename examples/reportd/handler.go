package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// maxReply bounds the one-line text of every answer to a POST.
const maxReply = 512

// receiver is the HTTP side of reportd: reports POSTed to any path (RFC
// 8460 §5.4), the dashboard at GET /, the summary as JSON at GET
// /api/summary and as text at GET /summary.
type receiver struct {
	intake   *intake
	maxSize  int64
	inflight chan struct{} // a slot per POST being received
	active   sync.WaitGroup
	print    func(format string, args ...any) // a line on stdout
	logger   *slog.Logger
}

func (rc *receiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", rc.dashboard)
	mux.HandleFunc("GET /api/summary", rc.summaryJSON)
	mux.HandleFunc("GET /summary", rc.summaryText)
	mux.HandleFunc("/", rc.receive)
	return mux
}

// receive takes one POSTed report. Answers, each with one line of
// text/plain:
//
//   - 200: stored (durably, before the answer) or stored already;
//   - 400: the body is empty, not a report, or a report the receiver
//     refuses (negative counts, no policy domain, a domain not served);
//   - 405: not a POST; 415: not application/tlsrpt+gzip or +json;
//   - 413: over -max-size, compressed or not;
//   - 503 with Retry-After: -max-inflight reports are being received;
//   - 507 with Retry-After: the store is full (-max-reports, -max-bytes);
//   - 500: the report could not be written.
func (rc *receiver) receive(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.reply(w, req, http.StatusMethodNotAllowed, "reports are POSTed (RFC 8460 §5.4); the dashboard is GET /", nil)
		return
	}
	select {
	case rc.inflight <- struct{}{}:
		defer func() { <-rc.inflight }()
	default:
		w.Header().Set("Retry-After", "60")
		rc.reply(w, req, http.StatusServiceUnavailable, "too many reports being received at once; try again later", nil)
		return
	}
	rc.active.Add(1)
	defer rc.active.Done()

	ct := req.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != tlsrpt.MediaTypeGzip && mt != tlsrpt.MediaTypeJSON) {
		rc.reply(w, req, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %s is not %s or %s", escape.Quote(ct), tlsrpt.MediaTypeGzip, tlsrpt.MediaTypeJSON), nil)
		return
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		rc.reply(w, req, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %s is not supported; send %s", escape.Quote(ce), tlsrpt.MediaTypeGzip), nil)
		return
	}
	if req.ContentLength > rc.maxSize {
		rc.reply(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d bytes", req.ContentLength, rc.maxSize), nil)
		return
	}
	var body bytes.Buffer
	if req.ContentLength > 0 {
		body.Grow(int(req.ContentLength))
	}
	_, err := body.ReadFrom(http.MaxBytesReader(w, req.Body, rc.maxSize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		rc.reply(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", rc.maxSize), nil)
		return
	case err != nil:
		rc.reply(w, req, http.StatusBadRequest, "reading the body: "+err.Error(), nil)
		return
	}

	out, err := rc.intake.take(body.Bytes(), false)
	switch {
	case err == nil && out.duplicate:
		rc.reply(w, req, http.StatusOK, "report already stored", out.info)
	case err == nil:
		rc.reply(w, req, http.StatusOK, "report stored", out.info)
	case errors.Is(err, tlsrpt.ErrTooLarge):
		rc.reply(w, req, http.StatusRequestEntityTooLarge, err.Error(), nil)
	case errors.Is(err, errNotReport), errors.Is(err, tlsrpt.ErrInvalidReport), errors.Is(err, tlsrpt.ErrNoReport):
		rc.reply(w, req, http.StatusBadRequest, err.Error(), nil)
	case errors.Is(err, errFull):
		w.Header().Set("Retry-After", "3600")
		rc.reply(w, req, http.StatusInsufficientStorage, "the report store is full; try again later", nil)
	default:
		rc.logger.Error("reportd: report not stored", "err", escape.Quote(err.Error()))
		rc.reply(w, req, http.StatusInternalServerError, "the report could not be stored; try again later", nil)
	}
}

// reply answers with code and one line of text, and prints what
// happened on stdout; everything from the request is escaped.
func (rc *receiver) reply(w http.ResponseWriter, req *http.Request, code int, msg string, info *reportInfo) {
	line := escape.Text(msg)
	if len(line) > maxReply {
		n := maxReply
		for n > 0 && line[n]&0xC0 == 0x80 {
			n-- // not inside a UTF-8 sequence
		}
		line = line[:n] + "..."
	}
	if info != nil {
		rc.print("POST from %s: %s: %s", escape.Text(req.RemoteAddr), line, describe(info))
	} else {
		rc.print("POST from %s: %d %s", escape.Text(req.RemoteAddr), code, line)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, line+"\n")
}

// describe is the line printed for each report received, escaped.
func describe(info *reportInfo) string {
	domains := make([]string, len(info.Domains))
	for i, d := range info.Domains {
		domains[i] = escape.Text(d)
	}
	s := fmt.Sprintf("report %s from %s for %s", escape.Text(info.ReportID), escape.Text(info.Organization), strings.Join(domains, ", "))
	if len(info.Findings) > 0 {
		s += " (" + plural(int64(min(len(info.Findings), maxFindings)), "finding") + ")"
	}
	return s
}

// snapshot returns the current summary. The aggregate's read lock is
// held only while it is computed; answers are written without any lock.
func (rc *receiver) snapshot() *summary {
	n, b := rc.intake.store.usage()
	return rc.intake.agg.snapshot(rc.intake.now(), n, b)
}

// send writes a rendered answer.
func send(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

func (rc *receiver) dashboard(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	if err := renderDashboard(&b, rc.snapshot(), rc.intake.now()); err != nil {
		rc.logger.Error("reportd: dashboard", "err", err)
		http.Error(w, "the dashboard could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	send(w, "text/html; charset=utf-8", b.Bytes())
}

func (rc *receiver) summaryJSON(w http.ResponseWriter, _ *http.Request) {
	b, err := marshalSummary(rc.snapshot())
	if err != nil {
		rc.logger.Error("reportd: summary", "err", err)
		http.Error(w, "the summary could not be rendered", http.StatusInternalServerError)
		return
	}
	send(w, "application/json", b)
}

func (rc *receiver) summaryText(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	writeText(&b, rc.snapshot())
	send(w, "text/plain; charset=utf-8", b.Bytes())
}
