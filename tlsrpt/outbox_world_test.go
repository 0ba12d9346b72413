package tlsrpt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// reportWorld is where a report goes: a real HTTPS receiver (a Handler) and
// a real SMTP listener with STARTTLS, both on 127.0.0.1 with certificates
// of a CA made for the test, and a real DNS server publishing the TLS-RPT
// record of example.com (both destinations) and of the domains in extra.
type reportWorld struct {
	ca     *deliveryCA
	url    string // of the HTTPS receiver
	client *http.Client
	smtp   *smtpServer
	dns    *dnsServer
	key    ed25519.PrivateKey

	failPOST  atomic.Int32 // POSTs to answer with 503 before accepting
	failRCPT  atomic.Int32 // RCPTs to answer with 451 before accepting
	posts     atomic.Int32 // POSTs received
	rcpts     atomic.Int32 // RCPTs received
	mu        sync.Mutex
	accepted  map[string]int // report-id -> POSTs accepted
	mailed    map[string]int // report-id -> messages received
	mailedRaw [][]byte
}

func newReportWorld(t testing.TB, extra ...string) *reportWorld {
	w := &reportWorld{ca: newDeliveryCA(t), accepted: make(map[string]int), mailed: make(map[string]int)}
	h := &Handler{Logger: discardLogger(), Report: func(ctx context.Context, r *Report) error {
		w.mu.Lock()
		w.accepted[r.ReportID]++
		w.mu.Unlock()
		return nil
	}}
	srv, client := w.ca.httpsServer(t, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		w.posts.Add(1)
		if w.failPOST.Add(-1) >= 0 {
			http.Error(rw, "busy", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(rw, req)
	}))
	w.url, w.client = srv.URL+"/v1/tlsrpt", client
	w.smtp = newSMTPServer(t, w.ca.serverConfig(), func(string) string {
		w.rcpts.Add(1)
		if w.failRCPT.Add(-1) >= 0 {
			return "451 4.3.0 try later"
		}
		return ""
	})
	zone := map[string]txtAnswer{
		"_smtp._tls.example.com.": {txt: [][]string{{"v=TLSRPTv1; rua=" + w.url + ",mailto:tlsrpt@example.com"}}},
	}
	for _, d := range extra {
		zone["_smtp._tls."+d+"."] = txtAnswer{txt: [][]string{{"v=TLSRPTv1; rua=" + w.url}}}
	}
	w.dns = startDNS(t, zone)
	_, w.key, _ = ed25519.GenerateKey(rand.Reader)
	return w
}

// counts returns how often the report id was accepted by POST and
// received by email. The SMTP server queues a message before its 250
// reply, so every message a client saw accepted is counted.
func (w *reportWorld) counts(id string) (posted, mailed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		select {
		case m := <-w.smtp.got:
			if r, err := ParseMessage(bytes.NewReader(m.data)); err == nil {
				w.mailed[r.ReportID]++
			}
			w.mailedRaw = append(w.mailedRaw, m.data)
			continue
		default:
		}
		return w.accepted[id], w.mailed[id]
	}
}

// sender returns a Sender posting with the world's client and mailing
// through its SMTP listener, DKIM-signed.
func (w *reportWorld) sender() *Sender {
	relay := &SMTPRelay{Addr: w.smtp.addr(), TLSConfig: w.ca.clientConfig(), EHLOName: "mta1.sender.example"}
	return &Sender{
		From:       "tlsrpt@sender.example",
		HTTPClient: w.client,
		Mail:       relay.Send,
		DKIM:       &DKIMSigner{Domain: "sender.example", Selector: "tlsrpt", Key: w.key},
		Backoff:    time.Minute,
		Logger:     discardLogger(),
	}
}

// outbox returns an Outbox on dir with the world's Sender and DNS, at the
// clock's time, without a start delay.
func (w *reportWorld) outbox(dir string, now func() time.Time) *Outbox {
	return &Outbox{
		Store:       DirOutbox(dir),
		Sender:      w.sender(),
		Resolver:    w.dns.resolver(),
		StartWindow: -1,
		Now:         now,
		Logger:      discardLogger(),
	}
}

// verifyDKIM checks the DKIM signature of a message the world received.
func (w *reportWorld) verifyDKIM(t testing.TB, data []byte) {
	t.Helper()
	rec, err := (&DKIMSigner{Key: w.key}).KeyRecord(false)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return []string{rec}, nil },
	})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "sender.example" {
		t.Errorf("DKIM verification: %v, %+v", err, vs)
	}
	if _, err := mail.ReadMessage(bytes.NewReader(data)); err != nil {
		t.Error(err)
	}
}

// writeCA writes the world's CA certificate to dir/ca.pem.
func (w *reportWorld) writeCA(t testing.TB, dir string) string {
	name := filepath.Join(dir, "ca.pem")
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: w.ca.caDER})
	if err := os.WriteFile(name, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// discardLogger drops every line.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
