// Package world is the loopback Internet of the smtpsec demo: everything a
// sending MTA meets when it delivers mail to example.com under MTA-STS
// (RFC 8461) and reports on it with TLS-RPT (RFC 8460), each part a real
// server on 127.0.0.1:
//
//   - a DNS server (github.com/miekg/dns) with the zone of example.com:
//     MX 10 mx1.example.com and MX 20 mx2.example.com, the TXT records
//     _mta-sts.example.com and _smtp._tls.example.com, and A records
//     pointing every host at 127.0.0.1;
//   - a certificate authority made at start-up, which the world's clients
//     trust instead of the system roots;
//   - the policy host mta-sts.example.com, serving the policy over HTTPS
//     with mtasts.Handler;
//   - two MX hosts speaking SMTP with STARTTLS: mx1.example.com presents a
//     certificate for another name (mx.other.example.net), mx2.example.com
//     a valid one;
//   - the TLS-RPT report receiver tlsrpt.example.com, taking reports
//     POSTed over HTTPS with tlsrpt.Handler; report emails to
//     tlsrpt@example.com land in the MX hosts' mailboxes.
//
// Every service listens on a random port; Network maps the well-known
// ports (25, 443) of each host name to them. The world's Clock is moved
// forward by its program, so that hours and days pass in a moment.
//
// The demo program (examples/demo) plays a sending MTA in this world; the
// test of the inspector (examples/check) inspects example.com in it.
package world

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Names in the world.
const (
	Domain     = "example.com"
	PolicyHost = "mta-sts.example.com"
	ReportHost = "tlsrpt.example.com"
	// MX1 presents a certificate for another name (certificate-host-mismatch).
	MX1 = "mx1.example.com"
	// MX2 presents a valid certificate.
	MX2 = "mx2.example.com"
	// TTL is the TTL of every DNS record, in seconds.
	TTL = 300
	// TLSRPTRecord is the TLS-RPT record of example.com (RFC 8460 §3).
	TLSRPTRecord = "v=TLSRPTv1; rua=https://" + ReportHost + "/v1/tlsrpt,mailto:tlsrpt@" + Domain
)

// World holds the running servers. Create it with New and stop it with
// Close.
type World struct {
	Clock *Clock
	CA    *CA
	DNS   *DNS
	Net   *Network
	// MX holds the MX hosts of example.com in order of preference.
	MX []*SMTP

	policies   policies
	policyHost *HTTPS
	reportHost *HTTPS

	mu      sync.Mutex
	reports []*tlsrpt.Report
	closers []func()
}

// New starts a world whose clock shows start. Certificates are valid from
// a day before start to a week after it.
func New(start time.Time) (w *World, err error) {
	w = &World{Clock: NewClock(start)}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.CA, err = NewCA(start); err != nil {
		return nil, err
	}
	if w.DNS, err = ListenDNS(); err != nil {
		return nil, err
	}
	w.closers = append(w.closers, w.DNS.Close)
	w.Net = NewNetwork(w.DNS.Addr)
	loopback := netip.MustParseAddr("127.0.0.1")

	for _, mx := range []struct{ name, certName string }{
		{MX1, "mx.other.example.net"},
		{MX2, MX2},
	} {
		cert, err := w.CA.Issue(mx.certName)
		if err != nil {
			return nil, err
		}
		s, err := ListenSMTP(mx.name, cert)
		if err != nil {
			return nil, err
		}
		w.closers = append(w.closers, s.Close)
		w.MX = append(w.MX, s)
		w.DNS.SetA(mx.name, TTL, loopback)
		w.Net.Route(mx.name+":25", s.Addr)
	}
	w.DNS.SetMX(Domain, TTL, MX1, MX2)

	if w.policyHost, err = w.serve(PolicyHost, &mtasts.Handler{Policy: w.policies.get}); err != nil {
		return nil, err
	}
	receiver := &tlsrpt.Handler{Report: w.takeReport, Strict: true}
	if w.reportHost, err = w.serve(ReportHost, receiver); err != nil {
		return nil, err
	}
	w.DNS.SetTXT("_smtp._tls."+Domain, TTL, TLSRPTRecord)
	return w, nil
}

// serve starts an HTTPS server for name with h and puts it in DNS.
func (w *World) serve(name string, h http.Handler) (*HTTPS, error) {
	cert, err := w.CA.Issue(name)
	if err != nil {
		return nil, err
	}
	s, err := ServeHTTPS(cert, h)
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, s.Close)
	w.DNS.SetA(name, TTL, netip.MustParseAddr("127.0.0.1"))
	w.Net.Route(name+":443", s.Addr)
	return s, nil
}

// Close stops every server of the world.
func (w *World) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

// Publish makes example.com publish p the way RFC 8461 §8.1 says: first
// the policy file on the policy host, then the TXT record with the new id
// (derived from the policy's content). It returns the id.
func (w *World) Publish(p *mtasts.Policy) string {
	w.policies.set(Domain, p)
	id := mtasts.PolicyID(p)
	w.AnnounceID(id)
	return id
}

// AnnounceID replaces the TXT record at _mta-sts.example.com by one with id.
func (w *World) AnnounceID(id string) {
	w.DNS.SetTXT("_mta-sts."+Domain, TTL, (&mtasts.Record{ID: id}).String())
}

// StopPolicyHost shuts the policy host down: connections to
// mta-sts.example.com are refused from now on.
func (w *World) StopPolicyHost() {
	w.policyHost.Close()
}

// Routes returns where each service listens: "host:port" with the
// well-known port, to the real loopback address.
func (w *World) Routes() map[string]string {
	r := map[string]string{
		PolicyHost + ":443": w.policyHost.Addr,
		ReportHost + ":443": w.reportHost.Addr,
	}
	for _, mx := range w.MX {
		r[mx.Name+":25"] = mx.Addr
	}
	return r
}

// HTTPClient returns a client that reaches the world's HTTPS servers,
// trusts the world's CA and checks certificates at the world's time. It
// does not follow redirects (RFC 8461 §3.3 forbids it for policies).
func (w *World) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:     w.Net.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: w.CA.Pool, Time: w.Clock.Now},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// takeReport is the report receiver's storage.
func (w *World) takeReport(_ context.Context, r *tlsrpt.Report) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reports = append(w.reports, r.Clone()) // kept: not pinning the JSON text
	return nil
}

// Reports returns the reports POSTed to tlsrpt.example.com so far.
func (w *World) Reports() []*tlsrpt.Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*tlsrpt.Report(nil), w.reports...)
}
