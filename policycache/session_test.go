package policycache_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// The modes of the session table: how the recipient domain's policy came
// out of the Cache.
const (
	modeEnforce    = "enforce"
	modeTesting    = "testing"
	modeNone       = "none"
	modeNoPolicy   = "no-policy"
	modeFetchFail  = "fetch-failed"        // TXT record, policy host answers 404, nothing cached
	modeCachedFail = "fetch-failed-cached" // cached enforce policy, new id cannot be fetched
)

var sessionModes = []string{modeEnforce, modeTesting, modeNone, modeNoPolicy, modeFetchFail, modeCachedFail}

// MX host names of every domain in the table: the policies allow
// *.good.example.net.
const (
	allowedMX    = "mx.good.example.net"
	notAllowedMX = "mx.bad.example.org"
	sessionMX    = "version: STSv1\nmode: %s\nmx: *.good.example.net\nmax_age: 86400\n"
)

// sessionResults looks up one Result per mode in w, whose clock is then
// past the TXT TTL of the cached-failure domain.
func sessionResults(t *testing.T, w *world, cache *policycache.Cache) map[string]policycache.Result {
	t.Helper()
	w.Publish(modeEnforce+".example", "e1", fmt.Sprintf(sessionMX, "enforce"))
	w.Publish(modeTesting+".example", "t1", fmt.Sprintf(sessionMX, "testing"))
	w.Publish(modeNone+".example", "n1", "version: STSv1\nmode: none\nmax_age: 86400\n")
	w.Publish(modeFetchFail+".example", "f1", "")
	w.Host.Set(modeFetchFail+".example", site{Status: 404})
	w.Publish(modeCachedFail+".example", "c1", fmt.Sprintf(sessionMX, "enforce"))
	lookup(t, cache, modeCachedFail+".example")
	w.DNS.SetTXT("_mta-sts."+modeCachedFail+".example", 300, "v=STSv1; id=c2;")
	w.Host.Set(modeCachedFail+".example", site{Unreachable: true})
	w.Clock.Advance(301 * time.Second)

	out := map[string]policycache.Result{}
	for _, m := range sessionModes {
		out[m] = lookup(t, cache, m+".example")
	}
	if r := out[modeFetchFail]; r.Policy != nil || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("fetch failure: %+v", r)
	}
	if r := out[modeCachedFail]; !r.Enforced() || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("cached policy with a failed fetch: %+v", r)
	}
	return out
}

// wantRecord is the expected outcome of one session, derived from RFC 8461
// §4–§5 and RFC 8460 §4.3 independently of the code under test.
type wantRecord struct {
	try, deliver bool
	success      bool
	resultType   tlsrpt.ResultType
	reason       string // "" or a prefix of the failure-reason-code
}

func expectSession(mode string, allowed bool, o tlsOutcome) wantRecord {
	enforced := mode == modeEnforce || mode == modeCachedFail
	checked := enforced || mode == modeTesting
	if enforced && !allowed {
		return wantRecord{} // skipped: no session
	}
	w := wantRecord{try: true}
	var rt tlsrpt.ResultType
	var reason string
	switch {
	case o == tlsNone:
		rt = tlsrpt.ResultSTARTTLSNotSupported
	case o == tlsRefused:
		rt, reason = tlsrpt.ResultValidationFailure, "TLS alert"
	case !checked:
	case o == tlsExpired:
		rt, reason = tlsrpt.ResultCertificateExpired, "X509_V_ERR_CERT_HAS_EXPIRED"
	case o == tlsWrongName:
		rt, reason = tlsrpt.ResultCertificateHostMismatch, "X509_V_ERR_HOSTNAME_MISMATCH"
	case o == tlsUntrusted:
		rt, reason = tlsrpt.ResultCertificateNotTrusted, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"
	}
	if enforced {
		w.deliver = o == tlsValid
	} else {
		w.deliver = o != tlsRefused
	}
	switch {
	case mode == modeFetchFail:
		w.resultType, w.reason = tlsrpt.ResultSTSPolicyFetchError, "HTTP status 404"
	case mode == modeTesting && !allowed:
		w.resultType, w.reason = tlsrpt.ResultValidationFailure, policycache.ReasonMXNotInPolicy
	case rt != "":
		w.resultType, w.reason = rt, reason
	case mode == modeCachedFail:
		w.resultType, w.reason = tlsrpt.ResultSTSPolicyFetchError, "network error: dial" // the test dialer's refusal
	default:
		w.success = true
	}
	return w
}

// TestSessionTable runs one real SMTP session for every mode × MX allowed
// × TLS outcome × client (net/smtp, raw conn + tls.Client), checks the
// decision and the exact TLS-RPT record, then sends the day's reports to a
// loopback tlsrpt.Handler and decodes them again.
func TestSessionTable(t *testing.T) {
	w := newWorld(t)
	cache := w.Cache(t, w.Config())
	results := sessionResults(t, w, cache)
	day := w.Clock.Now().UTC().Truncate(24 * time.Hour)
	ca := newMXCA(t, w.Clock.Now())
	verify := mtasts.VerifyOptions{Roots: ca.pool, Now: w.Clock.Now}
	mx := map[tlsOutcome]*mxServer{}
	for _, o := range tlsOutcomes {
		mx[o] = startMX(t, ca, o)
	}
	clients := []struct {
		name string
		run  sessionClient
	}{{"net-smtp", netSMTPClient}, {"raw", rawClient}}

	dayStore := new(tlsrpt.MemoryStore)
	want := map[string]tlsrpt.Summary{} // policy domain → the day's counts
	cases := 0
	for _, mode := range sessionModes {
		for _, allowed := range []bool{true, false} {
			for _, o := range tlsOutcomes {
				for _, cl := range clients {
					cases++
					host := allowedMX
					if !allowed {
						host = notAllowedMX
					}
					name := fmt.Sprintf("%s/allowed=%v/%s/%s", mode, allowed, o, cl.name)
					exp := expectSession(mode, allowed, o)
					store := new(tlsrpt.MemoryStore)
					col := &tlsrpt.Collector{OrganizationName: "Sender", ContactInfo: "mailto:tlsrpt@sender.example", Store: store, Now: w.Clock.Now, Logger: w.Config().Logger}
					d := policycache.NewDelivery(results[mode], col, verify)
					s := d.Session(host)
					if s.Try() != exp.try {
						t.Errorf("%s: Try() = %v, want %v", name, s.Try(), exp.try)
						continue
					}
					before := mx[o].delivered.Load()
					var sent bool
					if exp.try {
						var err error
						sent, err = cl.run(context.Background(), &s, mx[o].Addr)
						if err != nil {
							t.Errorf("%s: session: %v", name, err)
							continue
						}
					}
					if sent != exp.deliver || mx[o].delivered.Load()-before != map[bool]int64{true: 1}[exp.deliver] {
						t.Errorf("%s: delivered %v, want %v", name, sent, exp.deliver)
					}
					if rt, _ := s.Outcome(); rt != exp.resultType {
						t.Errorf("%s: Outcome() = %q, want %q", name, rt, exp.resultType)
					}
					if err := col.Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
					got, _ := store.Results(context.Background(), day)
					checkRecord(t, name, got, exp, results[mode], host, cl.name == "net-smtp")
					if col.Dropped() != 0 {
						t.Errorf("%s: %d sessions dropped", name, col.Dropped())
					}
					if len(got) > 0 {
						dayStore.Add(context.Background(), day, got)
						s := want[got[0].Policy.Domain]
						s.TotalSuccessfulSessionCount += got[0].Summary.TotalSuccessfulSessionCount
						s.TotalFailureSessionCount += got[0].Summary.TotalFailureSessionCount
						want[got[0].Policy.Domain] = s
					}
				}
			}
		}
	}
	if cases != 144 {
		t.Errorf("%d cases", cases)
	}
	sendDay(t, w, dayStore, day, want)
}

// checkRecord compares what one session recorded with exp.
func checkRecord(t *testing.T, name string, got []tlsrpt.PolicyResult, exp wantRecord, res policycache.Result, host string, noHELO bool) {
	t.Helper()
	if !exp.try {
		if len(got) != 0 {
			t.Errorf("%s: recorded %+v for a skipped host", name, got)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("%s: recorded %+v, want one policy result", name, got)
	}
	pr := got[0]
	if pr.Policy.Type != res.AppliedPolicy.Type || pr.Policy.Domain != res.Domain {
		t.Errorf("%s: policy %+v, want %+v", name, pr.Policy, res.AppliedPolicy)
	}
	if exp.success {
		if pr.Summary != (tlsrpt.Summary{TotalSuccessfulSessionCount: 1}) || len(pr.FailureDetails) != 0 {
			t.Errorf("%s: recorded %+v, want one success", name, pr)
		}
		return
	}
	if pr.Summary != (tlsrpt.Summary{TotalFailureSessionCount: 1}) || len(pr.FailureDetails) != 1 {
		t.Fatalf("%s: recorded %+v, want one failure", name, pr)
	}
	fd := pr.FailureDetails[0]
	loop := netip.MustParseAddr("127.0.0.1")
	helo := "mx.test"
	if noHELO {
		helo = "" // net/smtp does not tell the greeting's name
	}
	wantFD := tlsrpt.FailureDetail{
		ResultType: exp.resultType, SendingMTAIP: loop, ReceivingMXHostname: host,
		ReceivingMXHelo: helo, ReceivingIP: loop, FailedSessionCount: 1, FailureReasonCode: fd.FailureReasonCode,
	}
	if fd != wantFD || !strings.HasPrefix(fd.FailureReasonCode, exp.reason) || (exp.reason == "") != (fd.FailureReasonCode == "") {
		t.Errorf("%s: failure detail\n got %+v\nwant %+v with reason %q", name, fd, wantFD, exp.reason)
	}
}

// sendDay makes the day's reports from store, sends each with
// tlsrpt.Sender to a loopback tlsrpt.Handler (strict) over HTTPS, and
// decodes what arrived again with ParseReport.
func sendDay(t *testing.T, w *world, store tlsrpt.ResultStore, day time.Time, want map[string]tlsrpt.Summary) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]tlsrpt.Summary{}
	srv := httptest.NewTLSServer(&tlsrpt.Handler{Strict: true, Logger: w.Config().Logger, Report: func(ctx context.Context, r *tlsrpt.Report) error {
		js, err := json.Marshal(r)
		if err != nil {
			return err
		}
		again, err := tlsrpt.ParseReport(bytes.NewReader(js))
		if err != nil {
			return err
		}
		if err := again.Validate(); err != nil {
			t.Errorf("report %s decoded again: %v", r.ReportID, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range again.Policies {
			s := got[p.Policy.Domain]
			s.TotalSuccessfulSessionCount += p.Summary.TotalSuccessfulSessionCount
			s.TotalFailureSessionCount += p.Summary.TotalFailureSessionCount
			got[p.Policy.Domain] = s
		}
		return nil
	}})
	defer srv.Close()
	rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=" + srv.URL + "/tlsrpt")
	if err != nil {
		t.Fatal(err)
	}
	col := &tlsrpt.Collector{OrganizationName: "Sender", ContactInfo: "mailto:tlsrpt@sender.example", Store: store,
		Now: func() time.Time { return day.Add(25 * time.Hour) }}
	reports, err := col.Reports(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	sender := &tlsrpt.Sender{From: "tlsrpt@sender.example", HTTPClient: srv.Client(), Attempts: 1, Logger: w.Config().Logger}
	for _, r := range reports {
		if err := sender.Send(context.Background(), r, rec); err != nil {
			t.Errorf("Send %s: %v", r.Policies[0].Policy.Domain, err)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received\n %v\nwant\n %v", got, want)
	}
	if len(want) != len(sessionModes) {
		t.Errorf("reports for %d domains, want %d", len(want), len(sessionModes))
	}
}

// Concurrent deliveries share one Delivery and one Collector: every
// session is counted once (run with -race).
func TestSessionConcurrent(t *testing.T) {
	w := newWorld(t)
	cache := w.Cache(t, w.Config())
	w.Publish("example.com", "1", fmt.Sprintf(sessionMX, "testing"))
	res := lookup(t, cache, "example.com")
	ca := newMXCA(t, w.Clock.Now())
	good, bad := startMX(t, ca, tlsValid), startMX(t, ca, tlsExpired)
	store := new(tlsrpt.MemoryStore)
	col := &tlsrpt.Collector{OrganizationName: "Sender", ContactInfo: "mailto:tlsrpt@sender.example", Store: store, Now: w.Clock.Now}
	d := policycache.NewDelivery(res, col, mtasts.VerifyOptions{Roots: ca.pool, Now: w.Clock.Now})
	const workers, each = 8, 5
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range each {
				addr, run := good.Addr, sessionClient(netSMTPClient)
				if i%2 == 1 {
					addr, run = bad.Addr, rawClient
				}
				s := d.Session(allowedMX)
				if sent, err := run(ctx, &s, addr); err != nil || !sent {
					t.Errorf("session: sent %v, %v (testing mode delivers)", sent, err)
				}
			}
		})
	}
	wg.Wait()
	if err := col.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Results(ctx, w.Clock.Now().UTC().Truncate(24*time.Hour))
	half := int64(workers / 2 * each)
	if len(got) != 1 || got[0].Summary != (tlsrpt.Summary{TotalSuccessfulSessionCount: half, TotalFailureSessionCount: half}) ||
		len(got[0].FailureDetails) != 1 || got[0].FailureDetails[0].ResultType != tlsrpt.ResultCertificateExpired {
		t.Errorf("recorded %+v", got)
	}
	if good.delivered.Load()+bad.delivered.Load() != workers*each {
		t.Errorf("delivered %d + %d messages", good.delivered.Load(), bad.delivered.Load())
	}
}

// Record counts a session once, however often it is called, and a
// Session without a Collector records nothing.
func TestSessionRecordOnce(t *testing.T) {
	p, err := mtasts.NewPolicy(mtasts.ModeEnforce, 24*time.Hour, allowedMX)
	if err != nil {
		t.Fatal(err)
	}
	res := policycache.Result{Domain: "example.com", Policy: p, AppliedPolicy: tlsrpt.AppliedPolicy{
		Type: tlsrpt.PolicySTS, Domain: "example.com", PolicyString: []string{"version: STSv1"}, MXHost: p.MX}}
	store := new(tlsrpt.MemoryStore)
	col := &tlsrpt.Collector{OrganizationName: "o", ContactInfo: "mailto:a@sender.example", Store: store, Logger: discardLogger()}
	s := policycache.NewDelivery(res, col, mtasts.VerifyOptions{}).Session(allowedMX)
	state := &tls.ConnectionState{HandshakeComplete: true}
	for range 3 {
		// Not our TLSConfig and no certificate: the checks cannot pass.
		if s.Record(nil, state, nil) {
			t.Error("delivered over an unchecked certificate under enforce")
		}
	}
	col.Flush(ctx)
	got, _ := store.Results(ctx, time.Now().UTC().Truncate(24*time.Hour))
	if len(got) != 0 || col.Dropped() != 1 {
		t.Errorf("a failure without connection (no sending-mta-ip): recorded %+v, dropped %d; want one drop", got, col.Dropped())
	}
	s = policycache.NewDelivery(res, nil, mtasts.VerifyOptions{}).Session("MX.Good.Example.NET.")
	if !s.Try() || s.Record(nil, nil, tlsrpt.ErrSTARTTLSNotSupported) {
		t.Error("enforce: tried and refused without STARTTLS expected")
	}
}
