package mtasts

import (
	"github.com/smtpsec/smtpsec/internal/loopback"

	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n"

// checkTestPolicy asserts that p is testPolicy parsed.
func checkTestPolicy(t *testing.T, p *Policy) {
	t.Helper()
	if p == nil {
		t.Fatal("policy is nil")
	}
	if p.Mode != ModeEnforce || !slices.Equal(p.MX, []string{"mx1.example.com", "*.mail.example.net"}) ||
		p.MaxAge != 604800*time.Second || len(p.Extensions) != 0 {
		t.Errorf("policy = %+v, want enforce, [mx1.example.com *.mail.example.net], 168h", p)
	}
}

// policyOfSize returns a valid policy of exactly n bytes, padded with an
// extension field.
func policyOfSize(t *testing.T, n int) []byte {
	t.Helper()
	head := "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\npad: "
	if n < len(head)+2 {
		t.Fatalf("policyOfSize(%d): too small", n)
	}
	return []byte(head + strings.Repeat("x", n-len(head)-1) + "\n")
}

// textPlain serves body as text/plain.
func textPlain(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}
}

// fetchFixture is a policy host for mta-sts.example.com on loopback with a
// certificate from a test CA, and a client that reaches it and trusts the CA.
type fetchFixture struct {
	ca     *loopback.CA
	srv    *httptest.Server
	client *http.Client
}

func newFetchFixture(t *testing.T, h http.Handler) *fetchFixture {
	t.Helper()
	ca := loopback.NewCA(t)
	srv := loopback.HTTPS(t, ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mta-sts.example.com"}}), h)
	return &fetchFixture{ca: ca, srv: srv, client: loopback.Client(t, srv.Listener.Addr().String(), ca.Pool)}
}

// checkFetchError asserts that err is a *FetchError for example.com with
// the given reason and status.
func checkFetchError(t *testing.T, err error, reason FetchFailure, status int) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want a *FetchError", err, err)
	}
	if fe.Reason != reason || fe.StatusCode != status {
		t.Errorf("Reason, StatusCode = %v, %d; want %v, %d (err: %v)", fe.Reason, fe.StatusCode, reason, status, err)
	}
	if fe.Domain != "example.com" || fe.URL != "https://mta-sts.example.com/.well-known/mta-sts.txt" {
		t.Errorf("Domain, URL = %q, %q", fe.Domain, fe.URL)
	}
	if !strings.Contains(err.Error(), fe.URL) || !strings.Contains(err.Error(), reason.String()) {
		t.Errorf("Error() = %q, want it to name the URL and %q", err.Error(), reason)
	}
	if got := errors.Is(err, ErrInvalidPolicy); got != (reason == FetchPolicyInvalid) {
		t.Errorf("errors.Is(err, ErrInvalidPolicy) = %v for reason %v", got, reason)
	}
	return fe
}

// TestFetchHTTPRules covers the rules of §3.3 and §3.2 about the HTTP
// response, each against a real HTTPS server.
func TestFetchHTTPRules(t *testing.T) {
	redirect := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/mta-sts.txt" {
				http.Redirect(w, r, "https://mta-sts.example.com/moved.txt", code)
				return
			}
			textPlain([]byte(testPolicy))(w, r) // a client that followed would succeed
		}
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(testPolicy))
		}
	}
	contentType := func(ct string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{ct}
			_, _ = w.Write([]byte(testPolicy))
		}
	}
	noContentType := func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // keeps net/http from sniffing one
		_, _ = w.Write([]byte(testPolicy))
	}
	chunked := func(n int) http.HandlerFunc {
		full := policyOfSize(t, n)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			body := full
			for len(body) > 0 { // several writes with flushes: no Content-Length
				k := min(len(body), 4096)
				_, _ = w.Write(body[:k])
				w.(http.Flusher).Flush()
				body = body[k:]
			}
		}
	}
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(policyOfSize(t, 1<<20))
	_ = zw.Close()
	gzipBomb := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(bomb.Len()))
		_, _ = w.Write(bomb.Bytes())
	}

	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  FetchFailure // 0: success
		status  int
	}{
		{"valid", textPlain([]byte(testPolicy)), 0, 200},
		{"media type in upper case with charset", contentType("TEXT/PLAIN; charset=utf-8"), 0, 200},
		{"us-ascii charset", contentType("text/plain; charset=us-ascii"), 0, 200},
		{"other charset ignored", contentType("text/plain; charset=iso-8859-1"), 0, 200},
		{"other parameter ignored", contentType("text/plain; format=flowed"), 0, 200},
		{"malformed parameter ignored", contentType("text/plain; charset"), 0, 200},
		{"301 not followed", redirect(http.StatusMovedPermanently), FetchStatus, 301},
		{"302 not followed", redirect(http.StatusFound), FetchStatus, 302},
		{"307 not followed", redirect(http.StatusTemporaryRedirect), FetchStatus, 307},
		{"308 not followed", redirect(http.StatusPermanentRedirect), FetchStatus, 308},
		{"204", status(http.StatusNoContent), FetchStatus, 204},
		{"304", status(http.StatusNotModified), FetchStatus, 304},
		{"404", status(http.StatusNotFound), FetchStatus, 404},
		{"500", status(http.StatusInternalServerError), FetchStatus, 500},
		{"203 is not 200", status(http.StatusNonAuthoritativeInfo), FetchStatus, 203},
		{"text/html", contentType("text/html; charset=utf-8"), FetchMediaType, 200},
		{"application/octet-stream", contentType("application/octet-stream"), FetchMediaType, 200},
		{"text/plainx", contentType("text/plainx"), FetchMediaType, 200},
		{"no media type", noContentType, FetchMediaType, 200},
		{"empty media type", contentType(""), FetchMediaType, 200},
		{"exactly 64 KiB", textPlain(policyOfSize(t, MaxPolicySize)), 0, 200},
		{"65 KiB", textPlain(policyOfSize(t, 65<<10)), FetchTooLarge, 200},
		{"64 KiB + 1 without Content-Length", chunked(MaxPolicySize + 1), FetchTooLarge, 200},
		{"64 KiB without Content-Length", chunked(MaxPolicySize), 0, 200},
		{"gzip expanding past the limit", gzipBomb, FetchTooLarge, 200},
		{"invalid policy", textPlain([]byte("version: STSv1\nmode: enforce\nmax_age: 86400\n")), FetchPolicyInvalid, 200},
		{"empty policy", textPlain(nil), FetchPolicyInvalid, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				paths []string
			)
			fx := newFetchFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				tt.handler(w, r)
			}))
			p, err := Fetch(context.Background(), fx.client, "example.com")
			if tt.reason == 0 {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if p == nil || p.MaxAge == 0 {
					t.Fatalf("Fetch = %+v", p)
				}
			} else {
				if p != nil {
					t.Errorf("Fetch returned a policy with error %v", err)
				}
				fe := checkFetchError(t, err, tt.reason, tt.status)
				if tt.reason == FetchStatus && tt.status >= 300 && tt.status < 400 && tt.status != 304 &&
					!strings.Contains(fe.Error(), "https://mta-sts.example.com/moved.txt") {
					t.Errorf("Error() = %q, want it to name the redirect target", fe.Error())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(paths, []string{"/.well-known/mta-sts.txt"}) {
				t.Errorf("requested paths %q, want only the policy path", paths)
			}
		})
	}
}

func TestFetchValid(t *testing.T) {
	var (
		mu  sync.Mutex
		req *http.Request
	)
	fx := newFetchFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		req = r.Clone(context.Background())
		mu.Unlock()
		textPlain([]byte(testPolicy))(w, r)
	}))
	p, err := Fetch(context.Background(), fx.client, "Example.COM.")
	if err != nil {
		t.Fatal(err)
	}
	checkTestPolicy(t, p)
	mu.Lock()
	defer mu.Unlock()
	if req.Method != http.MethodGet || req.Host != "mta-sts.example.com" || req.URL.Path != "/.well-known/mta-sts.txt" {
		t.Errorf("request %s %s%s, want GET mta-sts.example.com/.well-known/mta-sts.txt", req.Method, req.Host, req.URL.Path)
	}
	if got := req.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", got)
	}
	if req.TLS == nil || req.TLS.ServerName != "mta-sts.example.com" {
		t.Errorf("TLS server name (SNI) = %+v, want mta-sts.example.com", req.TLS)
	}
}

// TestFetchIDN: a U-label domain is fetched from its A-label host, whose
// certificate names the A-label.
func TestFetchIDN(t *testing.T) {
	ca := loopback.NewCA(t)
	hosts := make(chan string, 1)
	srv := loopback.HTTPS(t, ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mta-sts.xn--bcher-kva.example"}}),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hosts <- r.Host
			textPlain([]byte(testPolicy))(w, r)
		}))
	p, err := Fetch(context.Background(), loopback.Client(t, srv.Listener.Addr().String(), ca.Pool), "BÜCHER.example")
	if err != nil {
		t.Fatal(err)
	}
	checkTestPolicy(t, p)
	if h := <-hosts; h != "mta-sts.xn--bcher-kva.example" {
		t.Errorf("Host = %q, want mta-sts.xn--bcher-kva.example", h)
	}
}

func TestFetchRaw(t *testing.T) {
	const invalid = "version: STSv1\nmode: enforce\nmx: mx1.example.com\n" // no max_age
	fx := newFetchFixture(t, textPlain([]byte(invalid)))
	body, err := FetchRaw(context.Background(), fx.client, "example.com")
	if err != nil {
		t.Fatalf("FetchRaw: %v", err)
	}
	if string(body) != invalid {
		t.Errorf("body = %q, want %q", body, invalid)
	}
	_, err = Fetch(context.Background(), fx.client, "example.com")
	checkFetchError(t, err, FetchPolicyInvalid, 200)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line == 0 {
		t.Errorf("err = %v, want a *SyntaxError with a line", err)
	}
}

// TestFetchWebPKI: the policy host's certificate must be valid for
// mta-sts.<domain>, chain to a trusted root and be unexpired; any failure is
// FetchWebPKI (sts-webpki-invalid) and unwraps to the crypto/x509 error.
func TestFetchWebPKI(t *testing.T) {
	now := time.Now()
	ca, other := loopback.NewCA(t), loopback.NewCA(t)
	var (
		hostname x509.HostnameError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
	)
	tests := []struct {
		name   string
		cert   tls.Certificate
		reason FetchFailure
		target any // error type the error must unwrap to
	}{
		{"valid", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mta-sts.example.com"}}), 0, nil},
		{"wildcard", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"*.example.com"}}), 0, nil},
		{"unknown CA", other.Issue(t, loopback.CertSpec{DNSNames: []string{"mta-sts.example.com"}}), FetchWebPKI, &unknown},
		{"expired", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"mta-sts.example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}), FetchWebPKI, &invalid},
		{"for example.com only", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"example.com"}}), FetchWebPKI, &hostname},
		{"CN only", ca.Issue(t, loopback.CertSpec{CommonName: "mta-sts.example.com"}), FetchWebPKI, &hostname},
		{"wildcard one level too deep", ca.Issue(t, loopback.CertSpec{DNSNames: []string{"*.mta-sts.example.com"}}), FetchWebPKI, &hostname},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := loopback.HTTPS(t, tt.cert, textPlain([]byte(testPolicy)))
			p, err := Fetch(context.Background(), loopback.Client(t, srv.Listener.Addr().String(), ca.Pool), "example.com")
			if tt.reason == 0 {
				if err != nil {
					t.Fatal(err)
				}
				checkTestPolicy(t, p)
				return
			}
			checkFetchError(t, err, tt.reason, 0)
			if !errors.As(err, tt.target) {
				t.Errorf("err = %v, want it to unwrap to %T", err, tt.target)
			}
		})
	}
}

// TestFetchUnverifiedClient: a client that skips verification, or verifies
// another name, cannot make Fetch accept a certificate §3.3 rejects.
func TestFetchUnverifiedClient(t *testing.T) {
	ca := loopback.NewCA(t)
	srv := loopback.HTTPS(t, ca.Issue(t, loopback.CertSpec{DNSNames: []string{"example.com"}}), textPlain([]byte(testPolicy)))
	addr := srv.Listener.Addr().String()
	for name, cfg := range map[string]*tls.Config{
		"InsecureSkipVerify":   {InsecureSkipVerify: true},
		"ServerName overriden": {RootCAs: ca.Pool, ServerName: "example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			client := loopback.Client(t, addr, nil)
			client.Transport.(*http.Transport).TLSClientConfig = cfg
			_, err := Fetch(context.Background(), client, "example.com")
			checkFetchError(t, err, FetchWebPKI, 0)
		})
	}
}

// TestFetchDoesNotChangeClient: Fetch refuses redirects with a copy of the
// client; the caller's client keeps its own settings.
func TestFetchDoesNotChangeClient(t *testing.T) {
	fx := newFetchFixture(t, http.RedirectHandler("https://mta-sts.example.com/other", http.StatusFound))
	followed := 0
	fx.client.CheckRedirect = func(*http.Request, []*http.Request) error {
		followed++
		return http.ErrUseLastResponse
	}
	fx.client.Timeout = time.Hour
	_, err := Fetch(context.Background(), fx.client, "example.com")
	checkFetchError(t, err, FetchStatus, 302)
	if followed != 0 {
		t.Errorf("the caller's CheckRedirect was called %d times", followed)
	}
	if fx.client.CheckRedirect == nil || fx.client.Timeout != time.Hour {
		t.Error("the caller's client was modified")
	}
	// The caller's client itself still follows redirects.
	resp, err := fx.client.Get("https://mta-sts.example.com/.well-known/mta-sts.txt")
	if err == nil {
		_ = resp.Body.Close()
	}
	if followed != 1 {
		t.Errorf("caller's CheckRedirect called %d times by its own client, want 1", followed)
	}
}

// stall returns a handler that sends the response header and part of the
// body, then waits until the client goes away or the test ends. It never
// completes the response: when the client gives up it aborts the
// connection, so that the client cannot read a finished (empty) 200
// response that its own cancellation provoked.
func stall(t *testing.T, sendHeader bool) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(w http.ResponseWriter, r *http.Request) {
		if sendHeader {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("version: STSv1\r\n"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
		panic(http.ErrAbortHandler)
	}
}

// TestFetchTimeout: without a deadline in the context the fetch timeout
// applies, to the body too; a deadline in the context replaces it.
func TestFetchTimeout(t *testing.T) {
	t.Run("slow body, default timeout", func(t *testing.T) {
		fx := newFetchFixture(t, stall(t, true))
		// The timeout must end the fetch after the header arrived: on a
		// busy machine the header itself may take longer than a short
		// timeout, which proves nothing about the body, so the timeout
		// doubles until a fetch gets that far.
		for timeout := 100 * time.Millisecond; ; timeout *= 2 {
			body, err := fetchRaw(context.Background(), fx.client, "example.com", timeout)
			if err == nil {
				t.Fatalf("fetchRaw = %q, nil; want a timeout", body)
			}
			var fe *FetchError
			if errors.As(err, &fe) && fe.StatusCode == 0 && fe.Reason == FetchTimeout && timeout < time.Minute {
				continue // timed out before the header: inconclusive
			}
			checkFetchError(t, err, FetchTimeout, 200)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to match context.DeadlineExceeded", err)
			}
			break
		}
	})
	t.Run("slow header, caller's deadline", func(t *testing.T) {
		fx := newFetchFixture(t, stall(t, false))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := fetchRaw(ctx, fx.client, "example.com", time.Hour)
		checkFetchError(t, err, FetchTimeout, 0)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("returned after %v, want the caller's deadline to apply", d)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		fx := newFetchFixture(t, stall(t, false))
		fx.client.Timeout = 200 * time.Millisecond
		_, err := Fetch(context.Background(), fx.client, "example.com")
		checkFetchError(t, err, FetchTimeout, 0)
	})
	t.Run("canceled by the caller", func(t *testing.T) {
		fx := newFetchFixture(t, stall(t, true))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Fetch(ctx, fx.client, "example.com")
		checkFetchError(t, err, FetchNetwork, 0)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want it to match context.Canceled", err)
		}
	})
}

// TestFetchNetwork: failures below HTTP are FetchNetwork
// (sts-policy-fetch-error), not FetchWebPKI.
func TestFetchNetwork(t *testing.T) {
	t.Run("plain HTTP on the HTTPS port", func(t *testing.T) {
		srv := httptest.NewServer(textPlain([]byte(testPolicy)))
		t.Cleanup(srv.Close)
		_, err := Fetch(context.Background(), loopback.Client(t, srv.Listener.Addr().String(), nil), "example.com")
		checkFetchError(t, err, FetchNetwork, 0)
	})
	t.Run("connection closed at once", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
		t.Cleanup(func() { _ = ln.Close(); <-done })
		_, err = Fetch(context.Background(), loopback.Client(t, ln.Addr().String(), nil), "example.com")
		checkFetchError(t, err, FetchNetwork, 0)
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		_, err = Fetch(context.Background(), loopback.Client(t, addr, nil), "example.com")
		checkFetchError(t, err, FetchNetwork, 0)
	})
}

func TestFetchInvalidDomain(t *testing.T) {
	for _, domain := range []string{"", "a..example", "example.com:443", "exa mple.com", "example.com/x"} {
		_, err := Fetch(context.Background(), nil, domain)
		var fe *FetchError
		if err == nil || errors.As(err, &fe) {
			t.Errorf("Fetch(%q) = %v, want a non-FetchError error", domain, err)
		}
	}
}

func TestFetchFailureString(t *testing.T) {
	for f, want := range map[FetchFailure]string{
		FetchNetwork:       "network error",
		FetchTimeout:       "timeout",
		FetchWebPKI:        "certificate not valid",
		FetchStatus:        "HTTP status",
		FetchMediaType:     "media type",
		FetchTooLarge:      "policy too large",
		FetchPolicyInvalid: "invalid policy",
		99:                 "FetchFailure(99)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
	e := &FetchError{URL: "https://mta-sts.example.com/.well-known/mta-sts.txt", Reason: FetchStatus, Err: fmt.Errorf("status %q", "404 Not Found")}
	if got, want := e.Error(), `mtasts: fetching https://mta-sts.example.com/.well-known/mta-sts.txt: HTTP status: status "404 Not Found"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
