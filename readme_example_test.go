package smtpsec_test

// The code samples of README.md, kept here so that they compile and run:
// TestReadme executes each of them on loopback, in the world of the demo
// (package examples/demo/world: DNS, policy host, MX hosts, report
// receiver, all on 127.0.0.1 with a CA made at start-up). What a sample
// takes from its surroundings (an MTA's resolver, dialer and trusted
// roots; readers of reports) is a parameter or a field here.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// mta is what the README's delivery loop uses of an MTA.
type mta struct {
	name      string // EHLO name
	cache     *policycache.Cache
	collector *tlsrpt.Collector
	resolver  interface {
		LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	}
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	verify mtasts.VerifyOptions // zero in a real MTA: system roots, time.Now
}

// errTryLater: no MX host took the message; it stays queued.
var errTryLater = errors.New("no MX host took the message; try again later")

// --- README.md, "For Go MTA authors" ---

// deliver hands msg to an MX host of rcpt's domain under the domain's
// MTA-STS policy, and records each SMTP session for TLS-RPT.
func (m *mta) deliver(ctx context.Context, from, rcpt string, msg []byte) error {
	domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
	res, err := m.cache.Lookup(ctx, domain) // cached, RFC 8461 §5.1
	if err != nil {
		return err // only a bad domain, a cancelled ctx or a closed cache
	}
	mxs, err := m.resolver.LookupMX(ctx, domain) // in preference order
	if err != nil {
		return err
	}
	d := policycache.NewDelivery(res, m.collector, m.verify)
	for _, mx := range mxs {
		s := d.Session(mx.Host)
		if !s.Try() {
			continue // §4.1: not a valid MX under an enforced policy
		}
		conn, err := m.dial(ctx, "tcp", net.JoinHostPort(mx.Host, "25"))
		if err != nil {
			continue // no session, nothing to record
		}
		c, err := smtp.NewClient(conn, mx.Host)
		if err == nil {
			err = c.Hello(m.name)
		}
		if err != nil {
			conn.Close()
			continue
		}
		tlsErr := tlsrpt.ErrSTARTTLSNotSupported
		if ok, _ := c.Extension("STARTTLS"); ok {
			tlsErr = c.StartTLS(s.TLSConfig()) // enforce, testing or opportunistic
		}
		state, _ := c.TLSConnectionState()
		if s.Record(conn, &state, tlsErr) && send(c, from, rcpt, msg) == nil {
			return nil // recorded once; delivered
		}
		c.Close() // this MX must not, or could not, take it: next one
	}
	return errTryLater // §5: temporary; before bouncing, m.cache.Recheck(ctx, domain) and try once more
}

// --- end of the sample ---

// send is the MTA's transaction on an open session.
func send(c *smtp.Client, from, rcpt string, msg []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// sendReports is the README's daily step: the reports of yesterday, each
// delivered to the rua of its domain.
func sendReports(ctx context.Context, collector *tlsrpt.Collector, sender *tlsrpt.Sender, resolver mtasts.Resolver, yesterday time.Time) error {
	reports, err := collector.Reports(ctx, yesterday) // one per policy domain
	if err != nil {
		return err
	}
	for _, r := range reports {
		rec, err := tlsrpt.LookupRecord(ctx, resolver, r.Policies[0].Policy.Domain)
		if err == nil {
			err = sender.Send(ctx, r, rec) // HTTPS POST and email, retried
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// --- README.md, "For policy hosts" ---

func policyHost(ctx context.Context, mux *http.ServeMux, lookupPolicy func(context.Context, string) (*mtasts.Policy, error), opts inspect.Options) error {
	p, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, "mx1.example.com", "*.mail.example.com")
	if err != nil {
		return err
	}
	id := mtasts.PolicyID(p) // changes whenever the policy does
	txt, err := mtasts.RecordTXT("example.com", &mtasts.Record{ID: id}, time.Hour)
	if err != nil {
		return err
	}
	fmt.Println(txt)                                        // _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=..."
	mux.Handle("/", &mtasts.Handler{Policy: lookupPolicy})  // serves mta-sts.<domain> for every domain
	result, err := inspect.Domain(ctx, "example.com", opts) // a live setup: findings with fixes
	if err != nil {
		return err
	}
	for _, f := range result.Findings {
		fmt.Println(f)
	}
	return nil
}

// --- README.md, "For report receivers" ---

func reportReceiver(mux *http.ServeMux, store func(*tlsrpt.Report) error, emailReader, fileReader io.Reader) (*tlsrpt.Report, error) {
	mux.Handle("/tlsrpt", &tlsrpt.Handler{Report: func(ctx context.Context, r *tlsrpt.Report) error {
		return store(r) // decoded, size-capped; r.Validate() lists every RFC 8460 finding
	}})
	report, err := tlsrpt.ParseMessage(emailReader) // multipart/report; report-type=tlsrpt
	if err != nil {
		return nil, err
	}
	fmt.Println(report.ReportID)
	report, err = tlsrpt.ParseReport(fileReader) // .json or .json.gz
	return report, err
}

// TestReadme runs the samples: two deliveries to example.com (enforce,
// then testing) through the README loop, the next day's report sent to
// example.com's receiver, the policy-host sample against the same world
// and the receiver sample on real report files.
func TestReadme(t *testing.T) {
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	w, err := world.New(start)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	resolver := &policycache.DNSResolver{Servers: []string{w.DNS.Addr}}
	cache, err := policycache.New(policycache.Config{Resolver: resolver, HTTPClient: w.HTTPClient(), Now: w.Clock.Now, DisableRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	collector := &tlsrpt.Collector{OrganizationName: "Example Mail", ContactInfo: "mailto:tlsrpt@example.net", Now: w.Clock.Now}
	m := &mta{name: "mta.example.net", cache: cache, collector: collector, resolver: w.Net.Resolver, dial: w.Net.DialContext,
		verify: mtasts.VerifyOptions{Roots: w.CA.Pool, Now: w.Clock.Now}}
	msg := []byte("Subject: hello\r\n\r\nHello.\r\n")

	// mx1 presents a certificate for another name; mx2 a valid one.
	for i, mode := range []mtasts.Mode{mtasts.ModeEnforce, mtasts.ModeTesting} {
		p, err := mtasts.NewPolicy(mode, 7*24*time.Hour, world.MX1, world.MX2)
		if err != nil {
			t.Fatal(err)
		}
		w.Publish(p)
		w.Clock.Advance(time.Hour) // past the TXT TTL
		if err := m.deliver(ctx, "alice@example.net", "bob@example.com", msg); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		want := []int{0, 1} // enforce: mx1 skipped
		if i == 1 {
			want = []int{1, 1} // testing: delivered to mx1, the failure reported
		}
		if got := []int{len(w.MX[0].Messages()), len(w.MX[1].Messages())}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: messages at mx1, mx2: %v, want %v", mode, got, want)
		}
	}
	day := w.Clock.Now()
	w.Clock.Advance(24 * time.Hour)
	sender := &tlsrpt.Sender{From: "tlsrpt@example.net", HTTPClient: w.HTTPClient(), Attempts: 1, Now: w.Clock.Now,
		Mail: func(ctx context.Context, msg *tlsrpt.Message) error {
			for _, to := range msg.To {
				if err := m.deliver(ctx, msg.From, to, msg.Data); err != nil {
					return err
				}
			}
			return nil
		}}
	if err := sendReports(ctx, collector, sender, resolver, day); err != nil {
		t.Fatal(err)
	}
	got := w.Reports()
	if len(got) != 1 || len(got[0].Policies) != 2 {
		t.Fatalf("received %+v", got)
	}
	var ok, failed int64
	for _, pr := range got[0].Policies {
		ok += pr.Summary.TotalSuccessfulSessionCount
		failed += pr.Summary.TotalFailureSessionCount
		for _, fd := range pr.FailureDetails {
			if fd.ResultType != tlsrpt.ResultCertificateHostMismatch || fd.ReceivingMXHostname != world.MX1 || !fd.SendingMTAIP.IsLoopback() || !fd.ReceivingIP.IsLoopback() {
				t.Errorf("failure detail %+v", fd)
			}
		}
	}
	if ok != 1 || failed != 2 {
		t.Errorf("report: %d successes, %d failures; want 1, 2", ok, failed)
	}

	// The policy-host sample, inspecting example.com in the same world.
	mux := http.NewServeMux()
	lookupPolicy := func(ctx context.Context, domain string) (*mtasts.Policy, error) { return nil, mtasts.ErrUnknownDomain }
	opts := inspect.Options{Resolver: w.Net.Resolver, HTTPClient: w.HTTPClient(), DialContext: w.Net.DialContext, RootCAs: w.CA.Pool, Now: w.Clock.Now}
	if err := policyHost(ctx, mux, lookupPolicy, opts); err != nil {
		t.Errorf("policy host sample: %v", err)
	}

	// The receiver sample, on real reports.
	eml, err := os.Open(filepath.Join("tlsrpt", "testdata", "google-2024.eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer eml.Close()
	file, err := os.Open(filepath.Join("tlsrpt", "testdata", "rfc8460-example-fixed.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, err := reportReceiver(mux, func(*tlsrpt.Report) error { return nil }, eml, file)
	if err != nil || r.ReportID == "" {
		t.Errorf("receiver sample: %v", err)
	}
}

// The README shows deliver exactly as it is compiled and run here.
func TestReadmeInSync(t *testing.T) {
	src, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "// --- README.md, \"For Go MTA authors\" ---\n", "// --- end of the sample ---"
	s := string(src)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("sample markers not found")
	}
	sample := "```go\n" + strings.Trim(s[i+len(begin):j], "\n") + "\n```"
	if !strings.Contains(string(readme), sample) {
		t.Errorf("README.md does not show the deliver sample of readme_example_test.go:\n%s", sample)
	}
}
