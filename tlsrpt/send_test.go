package tlsrpt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/textproto"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collectedReport is a report made by a Collector: two policies of
// example.com, one with failures.
func collectedReport(t testing.TB) *Report {
	t.Helper()
	clock := newTestClock(day1.Add(8 * time.Hour))
	c := newTestCollector(clock)
	pc := c.Counter(stsPolicy("example.com"))
	for range 40 {
		pc.Success()
	}
	pc.Failure(expiredAt("198.51.100.7"))
	pc.Failure(expiredAt("2001:db8::25"))
	pc.Failure(FailureDetail{
		ResultType:          ResultSTARTTLSNotSupported,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx2.example.com",
		ReceivingMXHelo:     "mx2",
		ReceivingIP:         netip.MustParseAddr("198.51.100.9"),
	})
	c.Counter(AppliedPolicy{Type: PolicyNotFound, Domain: "example.com"}).Success()
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil || len(reps) != 1 {
		t.Fatalf("Reports = %v, %v", reps, err)
	}
	if err := reps[0].Validate(); err != nil {
		t.Fatalf("a Collector's report is not valid: %v", err)
	}
	return reps[0]
}

// checkSameReport fails the test unless got and want are the same report.
func checkSameReport(t testing.TB, got, want *Report) {
	t.Helper()
	g, w := *got, *want
	g.notes, w.notes = nil, nil
	if !reflect.DeepEqual(&g, &w) {
		gj, _ := got.MarshalJSON()
		wj, _ := want.MarshalJSON()
		t.Errorf("reports differ\n got %s\nwant %s", gj, wj)
	}
}

func mustRecord(t testing.TB, txt string) *Record {
	t.Helper()
	rec, err := ParseRecord(txt)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestSendHTTPS: a report POSTed to a real HTTPS server running a Handler
// arrives equal.
func TestSendHTTPS(t *testing.T) {
	want := collectedReport(t)
	ca := newDeliveryCA(t)
	got := make(chan *Report, 1)
	var contentType atomic.Value
	h := &Handler{Strict: true, Report: func(ctx context.Context, r *Report) error {
		got <- r
		return nil
	}}
	srv, client := ca.httpsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contentType.Store(r.Header.Get("Content-Type"))
		h.ServeHTTP(w, r)
	}))
	s := &Sender{HTTPClient: client, Backoff: time.Millisecond}
	rec := mustRecord(t, "v=TLSRPTv1; rua="+srv.URL+"/tlsrpt")
	if err := s.Send(context.Background(), want, rec); err != nil {
		t.Fatal(err)
	}
	checkSameReport(t, <-got, want)
	if ct := contentType.Load(); ct != "application/tlsrpt+gzip" {
		t.Errorf("Content-Type %q", ct)
	}
}

// countingServer answers with the statuses in turn, then 200.
func countingServer(t *testing.T, statuses ...int) (*url.URL, *http.Client, *atomic.Int32) {
	ca := newDeliveryCA(t)
	var n atomic.Int32
	srv, client := ca.httpsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		io.Copy(io.Discard, r.Body)
		if i < len(statuses) {
			w.WriteHeader(statuses[i])
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	u, _ := url.Parse(srv.URL + "/v1")
	return u, client, &n
}

func TestSendRetries(t *testing.T) {
	rep := collectedReport(t)
	for _, tc := range []struct {
		name     string
		statuses []int
		attempts int
		wantErr  int // 0: success, else the final status
		tries    int32
	}{
		{"success", nil, 3, 0, 1},
		{"after 503 and 429", []int{503, 429}, 3, 0, 3},
		{"gives up", []int{500, 502, 503, 504}, 3, 503, 3},
		{"400 is final", []int{400}, 3, 400, 1},
		{"415 is final", []int{415}, 3, 415, 1},
		{"408 is retried", []int{408}, 3, 0, 2},
		{"3xx is not success, not followed, retried", []int{302, 302, 302}, 3, 302, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, client, n := countingServer(t, tc.statuses...)
			log, _ := quietLogger()
			s := &Sender{HTTPClient: client, Attempts: tc.attempts, Backoff: time.Millisecond, Logger: log}
			err := s.Send(context.Background(), rep, &Record{RUA: []*url.URL{u}})
			var he *HTTPError
			switch {
			case tc.wantErr == 0 && err != nil:
				t.Errorf("Send = %v", err)
			case tc.wantErr != 0 && (!errors.As(err, &he) || he.StatusCode != tc.wantErr):
				t.Errorf("Send = %v, want an *HTTPError with status %d", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), u.String()) {
				t.Errorf("error %q does not name the destination", err)
			}
			if got := n.Load(); got != tc.tries {
				t.Errorf("%d tries, want %d", got, tc.tries)
			}
		})
	}
}

func TestSendCancel(t *testing.T) {
	tried := make(chan struct{}, 1)
	srv, client := newDeliveryCA(t).httpsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case tried <- struct{}{}:
		default:
		}
	}))
	u, _ := url.Parse(srv.URL)
	log, _ := quietLogger()
	s := &Sender{HTTPClient: client, Backoff: time.Hour, Logger: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Send(ctx, collectedReport(t), &Record{RUA: []*url.URL{u}}) }()
	<-tried // the first try failed; cancel during the hour of backoff
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
}

func TestSendDestinations(t *testing.T) {
	rep := collectedReport(t)
	log, logged := quietLogger()
	s := &Sender{Logger: log, Backoff: time.Millisecond}
	err := s.Send(context.Background(), rep, mustRecord(t, "v=TLSRPTv1; rua=http://reports.example/v1"))
	if !errors.Is(err, ErrNoDestination) {
		t.Errorf("only http: Send = %v, want ErrNoDestination", err)
	}
	if !strings.Contains(logged.String(), "http://reports.example/v1") {
		t.Errorf("skipped destination not logged: %s", logged)
	}
	if err := s.Send(context.Background(), rep, nil); !errors.Is(err, ErrNoDestination) {
		t.Errorf("nil record: Send = %v", err)
	}
	// mailto: without a Mail function fails at once.
	err = s.Send(context.Background(), rep, mustRecord(t, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"))
	if err == nil || !strings.Contains(err.Error(), "Sender.Mail is nil") {
		t.Errorf("mailto without Mail: %v", err)
	}
	// An invalid report is not sent.
	bad := *rep
	bad.OrganizationName = ""
	var ve *ValidationError
	if err := s.Send(context.Background(), &bad, mustRecord(t, "v=TLSRPTv1; rua=mailto:a@example.com")); !errors.As(err, &ve) {
		t.Errorf("invalid report: Send = %v, want a *ValidationError", err)
	}
	// Post alone: https: only.
	if err := s.Post(context.Background(), &url.URL{Scheme: "http", Host: "example.com"}, rep); err == nil {
		t.Error("Post to http: succeeded")
	}
}

// TestSendLimit: at most maxDestinations destinations.
func TestSendLimit(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	log, logged := quietLogger()
	s := &Sender{From: "tlsrpt@sender.example", Logger: log, Mail: func(ctx context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, m.To...)
		return nil
	}}
	var uris []string
	for i := range maxDestinations + 3 {
		uris = append(uris, "mailto:r"+string(rune('a'+i))+"@example.com")
	}
	rec := mustRecord(t, "v=TLSRPTv1; rua="+strings.Join(uris, ","))
	if err := s.Send(context.Background(), collectedReport(t), rec); err != nil {
		t.Fatal(err)
	}
	if len(sent) != maxDestinations || !strings.Contains(logged.String(), "past the limit") {
		t.Errorf("sent to %d addresses (%v); log %s", len(sent), sent, logged)
	}
}

// TestSendMailSMTP: a report mailed through a real SMTP listener with
// STARTTLS is read back by ParseMessage, and the message has the form of
// RFC 8460 §5.3.
func TestSendMailSMTP(t *testing.T) {
	want := collectedReport(t)
	ca := newDeliveryCA(t)
	srv := newSMTPServer(t, ca.serverConfig(), nil)
	s := &Sender{
		From: "TLS Reports <tlsrpt@sender.example>",
		Now:  func() time.Time { return time.Date(2024, 9, 4, 1, 2, 3, 0, time.UTC) },
		Mail: func(ctx context.Context, m *Message) error {
			return m.SendSMTP(ctx, srv.addr(), nil, ca.clientConfig())
		},
	}
	rec := mustRecord(t, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,mailto:a@reports.example%2Cb@reports.example")
	if err := s.Send(context.Background(), want, rec); err != nil {
		t.Fatal(err)
	}
	var msgs []received
	for range 2 {
		msgs = append(msgs, <-srv.got)
	}
	if msgs[0].to[0] != "tlsrpt@example.com" {
		msgs[0], msgs[1] = msgs[1], msgs[0]
	}
	if want := [][]string{{"tlsrpt@example.com"}, {"a@reports.example", "b@reports.example"}}; !reflect.DeepEqual([][]string{msgs[0].to, msgs[1].to}, want) {
		t.Errorf("recipients %v, want %v", [][]string{msgs[0].to, msgs[1].to}, want)
	}
	for _, m := range msgs {
		if m.from != "tlsrpt@sender.example" || !m.tls {
			t.Errorf("MAIL FROM %q, TLS %v", m.from, m.tls)
		}
		got, err := ParseMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		checkSameReport(t, got, want)
	}
	checkReportMessage(t, msgs[0].data, want)
}

// checkReportMessage checks the form of a report email (RFC 8460 §5.3).
func checkReportMessage(t *testing.T, data []byte, r *Report) {
	t.Helper()
	for i, line := range strings.SplitAfter(string(data), "\r\n") {
		if strings.ContainsAny(strings.TrimSuffix(line, "\r\n"), "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		// Only the file name and a long report-id may pass 78 characters.
		if n := len(line) - 2; n > 998 || n > 78 && !strings.Contains(line, "name=") && !strings.Contains(line, "Report-ID:") {
			t.Errorf("line %d is longer than 78 characters: %q", i+1, line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d is not 7-bit: %q", i+1, line)
			}
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"From":                 `"TLS Reports" <tlsrpt@sender.example>`,
		"To":                   "tlsrpt@example.com",
		"Date":                 "Wed, 04 Sep 2024 01:02:03 +0000",
		"TLS-Report-Domain":    "example.com",
		"TLS-Report-Submitter": "sender.example",
		"TLS-Required":         "No",
		"MIME-Version":         "1.0",
		"Subject":              "Report Domain: example.com Submitter: sender.example Report-ID: <" + r.ReportID + ">",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@sender\.example>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID %q", h.Get("Message-ID"))
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	text, err := mr.NextPart() // decodes quoted-printable
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(text)
	if ct := text.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" ||
		!strings.Contains(string(body), "aggregate TLS report (RFC 8460) from Example Sender (sender.example)") ||
		!strings.Contains(string(body), "Successful sessions: 41\r\nFailed sessions: 3\r\n") {
		t.Errorf("text part %q:\n%s", ct, body)
	}
	att, err := mr.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct, p, _ := mime.ParseMediaType(att.Header.Get("Content-Type")); ct != MediaTypeGzip || p["name"] != att.FileName() {
		t.Errorf("report part Content-Type %q", att.Header.Get("Content-Type"))
	}
	if cd, _, _ := mime.ParseMediaType(att.Header.Get("Content-Disposition")); cd != "attachment" {
		t.Errorf("Content-Disposition %q", att.Header.Get("Content-Disposition"))
	}
	fn, err := ParseFileName(att.FileName())
	if err != nil {
		t.Fatal(err)
	}
	if fn.Sender != "sender.example" || fn.PolicyDomain != "example.com" || !fn.Gzip ||
		!fn.Begin.Equal(r.DateRange.Start) || !fn.End.Equal(r.DateRange.End) || len(fn.UniqueID) != 12 {
		t.Errorf("file name %q", att.FileName())
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}
}

// TestSendMailSMTPReplies: SMTP 5xx replies are final, 4xx are retried.
func TestSendMailSMTPReplies(t *testing.T) {
	rep := collectedReport(t)
	for _, tc := range []struct {
		reply string
		tries int32
		ok    bool
	}{
		{"550 5.1.1 no such user", 1, false},
		{"451 4.3.0 try later", 3, false},
	} {
		var n atomic.Int32
		srv := newSMTPServer(t, nil, func(string) string { n.Add(1); return tc.reply })
		log, _ := quietLogger()
		relay := &SMTPRelay{Addr: srv.addr(), AllowPlaintext: true}
		s := &Sender{From: "tlsrpt@sender.example", Attempts: 3, Backoff: time.Millisecond, Logger: log, Mail: relay.Send}
		err := s.Send(context.Background(), rep, mustRecord(t, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"))
		var pe *textproto.Error
		if !errors.As(err, &pe) || pe.Msg == "" || n.Load() != tc.tries {
			t.Errorf("%s: Send = %v after %d tries, want a *textproto.Error after %d", tc.reply, err, n.Load(), tc.tries)
		}
	}
}

// TestSendSMTPNoTLS: a relay that does not offer STARTTLS gets nothing,
// unless the SMTPRelay allows plaintext; then the message is sent in the
// clear, dot-stuffed.
func TestSendSMTPNoTLS(t *testing.T) {
	srv := newSMTPServer(t, nil, nil)
	m := &Message{From: "a@sender.example", To: []string{"b@example.com"}, Data: []byte("Subject: x\r\n\r\n.leading dot\r\nbody\r\n")}
	if err := m.SendSMTP(context.Background(), srv.addr(), nil, nil); !errors.Is(err, ErrNoSTARTTLS) {
		t.Fatalf("SendSMTP to a relay without STARTTLS = %v, want ErrNoSTARTTLS", err)
	}
	relay := &SMTPRelay{Addr: srv.addr(), AllowPlaintext: true}
	if err := relay.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := <-srv.got
	if got.tls || string(got.data) != string(m.Data) {
		t.Errorf("received %q (TLS %v), want %q", got.data, got.tls, m.Data)
	}
	if len(srv.got) != 0 {
		t.Error("the refused message was delivered")
	}
}

// TestSMTPRelayEHLOName: the relay greets with EHLOName, or localhost.
func TestSMTPRelayEHLOName(t *testing.T) {
	ca := newDeliveryCA(t)
	srv := newSMTPServer(t, ca.serverConfig(), nil)
	m := &Message{From: "a@sender.example", To: []string{"b@example.com"}, Data: []byte("Subject: x\r\n\r\nhi\r\n")}
	for _, tc := range []struct{ name, want string }{{"mta1.sender.example", "mta1.sender.example"}, {"", "localhost"}} {
		relay := &SMTPRelay{Addr: srv.addr(), TLSConfig: ca.clientConfig(), EHLOName: tc.name}
		if err := relay.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if got := <-srv.got; got.ehlo != tc.want || !got.tls {
			t.Errorf("EHLOName %q: greeted with %q (TLS %v), want %q over TLS", tc.name, got.ehlo, got.tls, tc.want)
		}
	}
	bad := &SMTPRelay{Addr: srv.addr(), TLSConfig: ca.clientConfig(), EHLOName: "x\r\nRSET"}
	if err := bad.Send(context.Background(), m); err == nil {
		t.Error("an EHLO name with CRLF was sent")
	}
}

func TestSendSMTPErrors(t *testing.T) {
	m := &Message{From: "a@sender.example", To: []string{"b@example.com"}, Data: []byte("Subject: x\r\n\r\nhi\r\n")}
	if err := m.SendSMTP(context.Background(), "no-port", nil, nil); err == nil {
		t.Error("address without port accepted")
	}
	// A server whose certificate is not trusted: STARTTLS fails.
	srv := newSMTPServer(t, newDeliveryCA(t).serverConfig(), nil)
	if err := m.SendSMTP(context.Background(), srv.addr(), nil, nil); err == nil {
		t.Error("STARTTLS with an untrusted certificate succeeded")
	}
	// A server that never answers: the context ends the exchange.
	ln := newSilentListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.SendSMTP(ctx, ln, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v, want context.DeadlineExceeded", err)
	}
}

// newSilentListener accepts connections and never writes.
func newSilentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestMessageErrors(t *testing.T) {
	rep := collectedReport(t)
	ok := &Sender{From: "tlsrpt@sender.example"}
	if _, err := ok.Message(context.Background(), rep, []string{"a@example.com"}); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	twoDomains := *rep
	twoDomains.Policies = append([]PolicyResult{}, rep.Policies...)
	twoDomains.Policies[1].Policy.Domain = "other.example"
	badID := *rep
	badID.ReportID = "a\r\nBcc: victim@example.com"
	noPolicies := *rep
	noPolicies.Policies = nil
	for name, tc := range map[string]struct {
		s  *Sender
		r  *Report
		to []string
	}{
		"no From":               {&Sender{}, rep, []string{"a@example.com"}},
		"bad From":              {&Sender{From: "not an address"}, rep, []string{"a@example.com"}},
		"non-ASCII From":        {&Sender{From: "tlsrpt@bücher.example"}, rep, []string{"a@example.com"}},
		"no recipients":         {ok, rep, nil},
		"bad recipient":         {ok, rep, []string{"a@"}},
		"two domains":           {ok, &twoDomains, []string{"a@example.com"}},
		"header injection":      {ok, &badID, []string{"a@example.com"}},
		"no policies":           {ok, &noPolicies, []string{"a@example.com"}},
		"bad submitter":         {&Sender{From: "tlsrpt@sender.example", Submitter: "not a domain"}, rep, []string{"a@example.com"}},
		"invalid report (zero)": {ok, &Report{}, []string{"a@example.com"}},
	} {
		if _, err := tc.s.Message(context.Background(), tc.r, tc.to); err == nil {
			t.Errorf("%s: Message succeeded", name)
		}
	}
}

func TestMailtoAddresses(t *testing.T) {
	for in, want := range map[string][]string{
		"mailto:tlsrpt@example.com":                  {"tlsrpt@example.com"},
		"mailto:a@example.com,b@example.com":         {"a@example.com", "b@example.com"},
		"mailto:a@example.com%2Cb@example.com":       {"a@example.com", "b@example.com"},
		"mailto:a%40example.com":                     {"a@example.com"},
		"mailto:?to=a@example.com":                   {"a@example.com"},
		"mailto:a@example.com?subject=x&to=b@x.test": {"a@example.com", "b@x.test"},
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := mailtoAddresses(u)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("mailtoAddresses(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"mailto:", "https://example.com/", "mailto:%zz"} {
		u, _ := url.Parse(in)
		if u == nil {
			u = &url.URL{Scheme: "mailto", Opaque: "%zz"}
		}
		if got, err := mailtoAddresses(u); err == nil {
			t.Errorf("mailtoAddresses(%s) = %v", in, got)
		}
	}
}

func TestFoldSubject(t *testing.T) {
	short := foldSubject("Report Domain: a.example", "Submitter: b.example", "Report-ID: <1@b>")
	if short != "Report Domain: a.example Submitter: b.example Report-ID: <1@b>" {
		t.Errorf("short subject folded: %q", short)
	}
	long := foldSubject("Report Domain: example.net", "Submitter: mail.sender.example.com", "Report-ID: <2024-09-03.example.net.0123456789ab@mail.sender.example.com>")
	want := "Report Domain: example.net Submitter: mail.sender.example.com\r\n Report-ID: <2024-09-03.example.net.0123456789ab@mail.sender.example.com>"
	if long != want {
		t.Errorf("folded %q, want %q", long, want)
	}
}

// TestSMTPRelayDial: an SMTPRelay connects through its Dial function, with
// network "tcp" and its Addr, and names the server by the host of Addr.
func TestSMTPRelayDial(t *testing.T) {
	ca := newDeliveryCA(t)
	srv := newSMTPServer(t, ca.serverConfig(), nil)
	var dialed []string
	relay := &SMTPRelay{
		Addr:      "localhost:587",
		TLSConfig: ca.clientConfig(),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, network+" "+addr)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", srv.addr())
		},
	}
	s := &Sender{From: "tlsrpt@sender.example", Mail: relay.Send}
	if err := s.Send(context.Background(), collectedReport(t), mustRecord(t, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tcp localhost:587"}; !slices.Equal(dialed, want) {
		t.Errorf("dialed %q, want %q", dialed, want)
	}
	got := <-srv.got
	if !got.tls || got.from != "tlsrpt@sender.example" || !slices.Equal(got.to, []string{"tlsrpt@example.com"}) {
		t.Errorf("received from %q to %q (TLS %v), want tlsrpt@sender.example to tlsrpt@example.com over TLS", got.from, got.to, got.tls)
	}

	// The certificate is checked against the host of Addr, not the
	// address Dial connected to: it does not cover mail.sender.example.
	relay.Addr = "mail.sender.example:587"
	m := &Message{From: "a@sender.example", To: []string{"b@example.com"}, Data: []byte("Subject: x\r\n\r\nhi\r\n")}
	var he x509.HostnameError
	if err := relay.Send(context.Background(), m); !errors.As(err, &he) || he.Host != "mail.sender.example" {
		t.Errorf("Send to a relay named mail.sender.example = %v, want an x509.HostnameError for it", err)
	}

	// A failing Dial is the error of Send, after no exchange.
	errDial := errors.New("no route to the relay")
	relay = &SMTPRelay{Addr: "localhost:587", Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errDial }}
	if err := relay.Send(context.Background(), m); !errors.Is(err, errDial) {
		t.Errorf("Send with a failing Dial = %v, want %v", err, errDial)
	}
}

// statusReceiver is an HTTPS receiver whose /v1 answers with status (and
// a Location to /moved for redirects) and whose /moved accepts reports,
// counting them.
func statusReceiver(t *testing.T, status int, body func(w http.ResponseWriter)) (u *url.URL, client *http.Client, moved *atomic.Int32) {
	ca := newDeliveryCA(t)
	moved = new(atomic.Int32)
	h := &Handler{Logger: discardLogger(), Report: func(context.Context, *Report) error { moved.Add(1); return nil }}
	var srvURL string
	srv, client := ca.httpsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			h.ServeHTTP(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		if status >= 300 && status < 400 {
			w.Header().Set("Location", srvURL+"/moved")
		}
		w.WriteHeader(status)
		if body != nil {
			body(w)
		}
	}))
	srvURL = srv.URL
	return mustURL(t, srv.URL+"/v1"), client, moved
}

// TestPostStatus: the outcome of each answer to a POST, through an Outbox.
// Redirects are never followed, not even 307 and 308, which would keep
// the method and body: a report goes only to the URI the domain
// published. They are failures, retried like 5xx (the receiver may be
// mid-move; the record is what to fix). 413 is final: the same report would
// be refused again.
func TestPostStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   DeliveryState
	}{
		{"301 Moved Permanently: not followed, retried", 301, DeliveryPending},
		{"302 Found: not followed, retried", 302, DeliveryPending},
		{"303 See Other: not followed, retried", 303, DeliveryPending},
		{"307 Temporary Redirect: not followed, retried", 307, DeliveryPending},
		{"308 Permanent Redirect: not followed, retried", 308, DeliveryPending},
		{"500 Internal Server Error: retried", 500, DeliveryPending},
		{"413 Content Too Large: given up", 413, DeliveryGivenUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, client, moved := statusReceiver(t, tc.status, func(w http.ResponseWriter) { io.WriteString(w, "reason\x1b[31m") })
			s := &Sender{HTTPClient: client, Logger: discardLogger()}
			err := s.Post(context.Background(), u, collectedReport(t))
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.status || he.Body != "reason\x1b[31m" ||
				he.Temporary() != (tc.want == DeliveryPending) || (tc.status < 400) != (he.Location != "") {
				t.Fatalf("Post = %#v", err)
			}
			if strings.Contains(err.Error(), "\x1b") {
				t.Errorf("error %q carries the receiver's control bytes", err)
			}
			// The same through an Outbox: the state records the outcome.
			clock := newTestClock(day2.Add(time.Hour))
			dns := startDNS(t, map[string]txtAnswer{"_smtp._tls.example.com.": {txt: [][]string{{"v=TLSRPTv1; rua=" + u.String()}}}})
			o := &Outbox{Store: DirOutbox(t.TempDir()), Sender: s, Resolver: dns.resolver(), StartWindow: -1, Now: clock.Now, Logger: discardLogger()}
			if err := o.Enqueue(context.Background(), collectedReport(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := o.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			es, _ := o.Entries(context.Background())
			d := es[0].Deliveries[0]
			if d.State != tc.want || d.Attempts != 1 || !strings.Contains(d.LastError, strconv.Itoa(tc.status)) {
				t.Errorf("delivery %+v, want %s after one attempt", d, tc.want)
			}
			if tc.want == DeliveryPending && !d.NextAttempt.Equal(clock.Now().Add(DefaultBackoff)) {
				t.Errorf("next attempt %v", d.NextAttempt)
			}
			if n := moved.Load(); n != 0 {
				t.Errorf("the redirect was followed: %d reports at its target", n)
			}
		})
	}
}

// TestPostSlowBody: a 2xx whose body never ends delivers the report at
// once; the body is not waited for.
func TestPostSlowBody(t *testing.T) {
	release := make(chan struct{})
	u, client, _ := statusReceiver(t, 200, func(w http.ResponseWriter) {
		io.WriteString(w, "accepted, and more to come")
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	client.Timeout = 0 // were the body waited for, Post would never return
	s := &Sender{HTTPClient: client}
	if err := s.Post(context.Background(), u, collectedReport(t)); err != nil {
		t.Fatal(err)
	}
}

// TestPostSlowErrorBody: the body of a 500 that never ends is read for a
// bounded time, then the failure is returned with what came.
func TestPostSlowErrorBody(t *testing.T) {
	release := make(chan struct{})
	u, client, _ := statusReceiver(t, 500, func(w http.ResponseWriter) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	s := &Sender{HTTPClient: client, errorBodyWait: time.Millisecond}
	var he *HTTPError
	if err := s.Post(context.Background(), u, collectedReport(t)); !errors.As(err, &he) || he.StatusCode != 500 || !strings.HasPrefix("partial", he.Body) {
		t.Fatalf("Post = %v", err)
	}
}

// TestPostClientRedirectPolicyOverridden: a caller's client that follows
// redirects does not make the Sender follow one.
func TestPostClientRedirectPolicyOverridden(t *testing.T) {
	u, client, moved := statusReceiver(t, 307, nil)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
	s := &Sender{HTTPClient: client}
	var he *HTTPError
	if err := s.Post(context.Background(), u, collectedReport(t)); !errors.As(err, &he) || he.StatusCode != 307 || moved.Load() != 0 {
		t.Fatalf("Post = %v, %d at the target", err, moved.Load())
	}
	if client.CheckRedirect == nil {
		t.Error("the caller's client was changed")
	}
}
