package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Defaults of a Sender whose fields are zero.
const (
	// DefaultAttempts is the number of tries per destination: with
	// DefaultBackoff the last comes about 16 hours after the first, within
	// the 24 hours of RFC 8460 §5.5.
	DefaultAttempts = 12
	// DefaultBackoff is the wait after the first failed try; each further
	// wait doubles, up to maxBackoff (4 hours).
	DefaultBackoff = time.Minute
	// DefaultHTTPTimeout bounds one POST of the default HTTP client.
	DefaultHTTPTimeout = 2 * time.Minute
)

// maxBackoff caps a single wait between tries.
const maxBackoff = 4 * time.Hour

// maxDestinations caps the rua URIs a report is delivered to, so that a
// record cannot make a sender mail or post one report many times.
const maxDestinations = 10

// Errors of Sender.
var (
	// ErrNoDestination is returned by Sender.Send for a record without a
	// usable rua URI: none with the mailto: or https: scheme (RFC 8460 §3).
	ErrNoDestination = errors.New("tlsrpt: no mailto: or https: rua destination")

	// ErrInvalidAddress reports an email address a report message cannot
	// be sent from or to: Sender.From, a mailto: recipient, or the
	// submitter domain (RFC 8460 §5.3). It is a mistake in configuration
	// or in the rua record, so retrying does not help.
	ErrInvalidAddress = errors.New("tlsrpt: invalid report email address")
)

// A Sender delivers reports to the destinations of a domain's TLS-RPT
// record (RFC 8460 §5): by HTTPS POST (§5.4) and by email (§5.3), trying
// again with exponential backoff (§5.5). The zero value posts with a
// default client and cannot mail; set Mail to deliver to mailto:
// destinations. A Sender is safe for concurrent use; do not change its
// fields after first use.
type Sender struct {
	// From is the address report emails come from (RFC 5322 From and the
	// SMTP envelope sender), for example "tlsrpt@sender.example". Its
	// domain should be the one whose DKIM key signs the message (§5.3).
	From string
	// Submitter is the domain of the submitting organization, written in
	// the TLS-Report-Submitter header, the Subject and the report's file
	// name (§5.1, §5.3). Empty means the domain of the report's
	// contact-info, or else of From.
	Submitter string
	// HTTPClient posts reports; nil means a client with a timeout of
	// DefaultHTTPTimeout. Whatever its CheckRedirect, no redirect is
	// followed: the Sender posts with a copy of the client, made at first
	// use, whose redirect answers are failures (an *HTTPError with the
	// Location), retried like a 5xx. RFC 8460 §3 allows a sender to
	// ignore certificate errors when posting; that is a choice of the
	// client's TLS configuration.
	HTTPClient *http.Client
	// Mail hands a report email to an SMTP client: the Send method of an
	// SMTPRelay, or the MTA's own queue. It must deliver despite MTA-STS or
	// DANE failures (§5.3.1; the message carries "TLS-Required: No"), and
	// should not count the sessions that deliver it in the next report
	// (see IsReportMessage). Nil means mailto: destinations fail.
	Mail func(ctx context.Context, m *Message) error
	// DKIM signs report emails before they go to Mail: RFC 8460 §5.3
	// requires a DKIM signature of the reporting domain. A *DKIMSigner
	// signs with a key (an HSM's crypto.Signer too); any MessageSigner can
	// stand in for the MTA's own signer. Nil sends report emails unsigned,
	// for a Mail that has them signed on the way (a relay with a DKIM
	// milter).
	DKIM MessageSigner
	// Attempts is the number of tries per destination; zero means
	// DefaultAttempts.
	Attempts int
	// Backoff is the wait after the first failed try, doubling after each
	// further one; zero means DefaultBackoff.
	Backoff time.Duration
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per failed try and per skipped destination;
	// nil means slog.Default().
	Logger *slog.Logger

	errorBodyWait time.Duration // errorBodyWait if zero; shorter in tests

	clientOnce sync.Once
	client     *http.Client
	// encoders holds *Encoder values for gzipReport: a new compressor
	// costs about 1 MiB, several times the work of encoding a report.
	encoders sync.Pool
}

// errorBodyWait bounds the reading of the body of a response that is not
// 2xx.
const errorBodyWait = 5 * time.Second

// maxErrorBody caps what is read of the body of a response that is not
// 2xx, to put in HTTPError.Body: enough for a one-line reason, little for
// a receiver to make a sender hold.
const maxErrorBody = 512

// HTTPError is the error of a POST answered with a status other than 2xx
// (RFC 8460 §5.4: only a successful response delivers the report).
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string // for example "503 Service Unavailable"
	// Location is the Location header of a redirect (3xx), which is never
	// followed: see Sender.HTTPClient.
	Location string
	// Body is the start of the response body: at most 512 bytes, read for
	// at most 5 seconds, as the receiver sent it (unescaped; Error quotes
	// it).
	Body string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("tlsrpt: POST %s: %s", e.URL, escape.Quote(e.Status))
	if e.Location != "" {
		msg += " to " + escape.Quote(e.Location) + " (redirects are not followed)"
	}
	if e.Body != "" {
		msg += ": " + escape.Quote(e.Body)
	}
	return msg
}

// Temporary reports whether trying again later may succeed: for
// redirects (3xx: a receiver moving its endpoint is usually mid-change,
// and the record's URI is the one to use), for 408, 425, 429 and for 5xx
// statuses. Other 4xx statuses, such as 413 Content Too Large, are final:
// the same report would get the same answer.
func (e *HTTPError) Temporary() bool {
	switch {
	case e.StatusCode >= 300 && e.StatusCode < 400,
		e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooEarly,
		e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	}
	return false
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// httpClient returns the client of POSTs: HTTPClient, or a default, in a
// copy that follows no redirect.
func (s *Sender) httpClient() *http.Client {
	s.clientOnce.Do(func() {
		if s.HTTPClient != nil {
			c := *s.HTTPClient
			s.client = &c
		} else {
			s.client = &http.Client{Timeout: DefaultHTTPTimeout}
		}
		s.client.CheckRedirect = noRedirect
	})
	return s.client
}

// noRedirect makes an http.Client return a redirect response as it is. A
// client following a 301, 302 or 303 turns the POST into a GET without the
// report, whose 2xx would count as delivered; 307 and 308 keep the
// method, but a report goes to the URI the domain published and nowhere
// else (RFC 8460 §3).
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Send delivers r to every mailto: and https: destination of rec (RFC 8460
// §3), at most 10, concurrently. Each destination is tried up to Attempts
// times with exponential backoff (§5.5), except after a final failure (a
// 4xx status other than 408, 425 and 429, an SMTP 5xx reply, an invalid
// address). Destinations of other schemes are logged and skipped.
//
// Send keeps the retries in memory: a restart loses them, and nothing
// records which destinations have the report. An Outbox stores both and
// resumes after a restart; use it for the daily reports of an MTA.
//
// Send returns when every destination has accepted the report or given
// up, or ctx is done: nil if all accepted, else the errors of the others
// joined, each naming its destination. It returns ErrNoDestination if rec
// has no usable destination, and r's validation error if r is not valid
// (see Validate): reports are written strictly.
func (s *Sender) Send(ctx context.Context, r *Report, rec *Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var dests []*url.URL
	if rec != nil {
		for _, u := range rec.RUA {
			if u.Scheme != "mailto" && u.Scheme != "https" {
				s.logger().Warn("tlsrpt: skipping a rua destination of a scheme RFC 8460 does not define",
					"report-id", r.ReportID, "rua", u.Redacted())
				continue
			}
			if len(dests) == maxDestinations {
				s.logger().Warn("tlsrpt: skipping rua destinations past the limit",
					"report-id", r.ReportID, "rua", u.Redacted(), "limit", maxDestinations)
				continue
			}
			dests = append(dests, u)
		}
	}
	if len(dests) == 0 {
		return ErrNoDestination
	}
	meta, err := metaOf(r)
	if err != nil {
		return err
	}
	body, err := s.gzipReport(r)
	if err != nil {
		return err
	}
	errs := make([]error, len(dests))
	var wg sync.WaitGroup
	for i, u := range dests {
		wg.Go(func() {
			errs[i] = s.retry(ctx, r, u, func() error {
				if u.Scheme == "https" {
					return s.post(ctx, u, body)
				}
				return s.mail(ctx, &meta, u, body)
			})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// retry calls try until it succeeds, fails for good, has been tried
// Attempts times, or ctx is done.
func (s *Sender) retry(ctx context.Context, r *Report, u *url.URL, try func() error) error {
	attempts, wait := s.Attempts, s.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if wait <= 0 {
		wait = DefaultBackoff
	}
	for n := 1; ; n++ {
		err := try()
		if err == nil {
			return nil
		}
		err = fmt.Errorf("tlsrpt: delivering report %s to %s: %w", r.ReportID, u.Redacted(), err)
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if n >= attempts || final(err) {
			return err
		}
		s.logger().Warn("tlsrpt: report delivery failed; trying again", "err", err, "attempt", n, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// final reports whether err says trying again cannot help.
func final(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return !he.Temporary()
	}
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return pe.Code >= 500
	}
	var fe *finalError
	return errors.As(err, &fe)
}

// finalError marks an error that no retry can cure, such as an invalid
// destination address.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// Post makes one attempt to deliver r to the https: URL u by HTTP POST
// with Content-Type application/tlsrpt+gzip and a gzip-compressed body
// (RFC 8460 §5.2, §5.4). Any 2xx status is success; other statuses are an
// *HTTPError. Post does not retry; Send does.
func (s *Sender) Post(ctx context.Context, u *url.URL, r *Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	body, err := s.gzipReport(r)
	if err != nil {
		return err
	}
	return s.post(ctx, u, body)
}

// gzipReport returns r gzip-compressed as EncodeGzip writes it, with an
// Encoder from s.encoders, so that a Sender delivering many reports keeps
// a few compressors rather than setting one up per report.
func (s *Sender) gzipReport(r *Report) ([]byte, error) {
	e, _ := s.encoders.Get().(*Encoder)
	if e == nil {
		e = new(Encoder)
	}
	var body bytes.Buffer
	err := e.EncodeGzip(&body, r)
	s.encoders.Put(e)
	if err != nil {
		return nil, err
	}
	return body.Bytes(), nil
}

func (s *Sender) post(ctx context.Context, u *url.URL, body []byte) error {
	if u.Scheme != "https" {
		return &finalError{fmt.Errorf("tlsrpt: %s is not an https: URL", u.Redacted())}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return &finalError{err}
	}
	req.Header.Set("Content-Type", MediaTypeGzip)
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A body is worth a few seconds, not the client's whole timeout.
	wait := s.errorBodyWait
	if wait == 0 {
		wait = errorBodyWait
	}
	stop := time.AfterFunc(wait, cancel)
	defer stop.Stop()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Delivered. A short body of known length is read so that the
		// connection serves the next report; a long or endless one is
		// not waited for (closing it costs the connection).
		if resp.ContentLength >= 0 && resp.ContentLength <= maxErrorBody {
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		}
		return nil
	}
	he := &HTTPError{URL: u.Redacted(), StatusCode: resp.StatusCode, Status: resp.Status}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		he.Location = resp.Header.Get("Location")
	}
	var b [maxErrorBody]byte
	n, _ := io.ReadFull(resp.Body, b[:])
	he.Body = string(b[:n])
	return he
}

// mail builds the report email for the mailto: URI u and hands it to
// s.Mail.
func (s *Sender) mail(ctx context.Context, r *reportMeta, u *url.URL, gz []byte) error {
	if s.Mail == nil {
		return &finalError{errors.New("tlsrpt: Sender.Mail is nil: cannot deliver to mailto: destinations")}
	}
	to, err := mailtoAddresses(u)
	if err != nil {
		return &finalError{err}
	}
	m, err := s.message(r, to, gz)
	if err != nil {
		return &finalError{err}
	}
	if err := s.sign(ctx, m); err != nil {
		return err // a signer (an HSM, a signing service) may be back later
	}
	return s.Mail(ctx, m)
}
