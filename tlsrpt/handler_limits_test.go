package tlsrpt

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerMaxConcurrent: with MaxConcurrent decodes under way, a
// request waits for its turn and, when its context ends first, gets 503
// with Retry-After and its body unread.
func TestHandlerMaxConcurrent(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	h := &Handler{MaxConcurrent: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Report: func(ctx context.Context, r *Report) error {
			entered <- struct{}{}
			<-release
			return nil
		}}
	body := sampleReportJSON("", "", "", "")
	first := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", MediaTypeJSON)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(first, req)
	}()
	<-entered // the first request holds the only turn

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unread := &countReader{r: strings.NewReader(body)}
	req2 := httptest.NewRequest(http.MethodPost, "/", unread).WithContext(ctx)
	req2.Header.Set("Content-Type", MediaTypeJSON)
	second := httptest.NewRecorder()
	h.ServeHTTP(second, req2)
	if second.Code != http.StatusServiceUnavailable || second.Header().Get("Retry-After") == "" {
		t.Errorf("second request: %d %q, Retry-After %q; want 503 with Retry-After", second.Code, second.Body, second.Header().Get("Retry-After"))
	}
	if unread.n != 0 {
		t.Errorf("the waiting request's body was read (%d bytes)", unread.n)
	}
	release <- struct{}{}
	<-done
	// The turn is free again.
	third := httptest.NewRecorder()
	req3 := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req3.Header.Set("Content-Type", MediaTypeJSON)
	go func() { <-entered; release <- struct{}{} }()
	h.ServeHTTP(third, req3)
	if third.Code != http.StatusOK {
		t.Errorf("third request: %d %q", third.Code, third.Body)
	}
}

// TestHandlerAnswersBounded: whatever a client sends, the answer and the
// logged reason are short and quote a 64-byte prefix of what it sent.
func TestHandlerAnswersBounded(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{Strict: true, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Report: func(ctx context.Context, r *Report) error { return nil }}
	integer, _ := hostileGzip(t, hostileHead, hostilePolicy, `{"result-type":"validation-failure","failed-session-count":`, repeat{"9", 1 << 20}, "}]}]}")
	bad, _ := hostileGzip(t, hostileHead, hostilePolicy, `{}`, repeat{`,{"result-type":"` + strings.Repeat("\x01", 100) + `"}`, 5000}, "]}]}")
	for _, tc := range []struct {
		name, contentType, encoding string
		body                        []byte
		code                        int
	}{
		{"long Content-Type", "application/" + strings.Repeat("\x1bx", 50000), "", nil, http.StatusUnsupportedMediaType},
		{"long Content-Encoding", MediaTypeJSON, strings.Repeat("br,", 50000), nil, http.StatusUnsupportedMediaType},
		{"1 MiB integer", MediaTypeGzip, "", integer, http.StatusBadRequest},
		{"5000 invalid details, Strict", MediaTypeGzip, "", bad, http.StatusBadRequest},
	} {
		logs.Reset()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		if tc.encoding != "" {
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.name, w.Code, tc.code, w.Body)
		}
		if w.Body.Len() > maxReplyLen+len("tlsrpt: \n") {
			t.Errorf("%s: answer of %d bytes", tc.name, w.Body.Len())
		}
		if logs.Len() > 2*maxReplyLen {
			t.Errorf("%s: log line of %d bytes", tc.name, logs.Len())
		}
		if bytes.ContainsAny(w.Body.Bytes(), "\x01\x1b") {
			t.Errorf("%s: raw control characters in %q", tc.name, w.Body)
		}
	}
}
