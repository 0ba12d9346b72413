package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a settable clock for Collector.Now.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := new(testClock)
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

var (
	day1 = time.Date(2024, 9, 3, 0, 0, 0, 0, time.UTC)
	day2 = day1.AddDate(0, 0, 1)
	day3 = day1.AddDate(0, 0, 2)
)

func stsPolicy(domain string) AppliedPolicy {
	return AppliedPolicy{
		Type:         PolicySTS,
		Domain:       domain,
		PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx1." + domain, "max_age: 604800"},
		MXHost:       []string{"mx1." + domain},
	}
}

func expiredAt(recv string) FailureDetail {
	return FailureDetail{
		ResultType:          ResultCertificateExpired,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.1"),
		ReceivingMXHostname: "mx1.example.com",
		ReceivingIP:         netip.MustParseAddr(recv),
		FailureReasonCode:   "X509_V_ERR_CERT_HAS_EXPIRED",
	}
}

// quietLogger returns a logger writing into a buffer the test can read.
func quietLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestCollector(clock *testClock) *Collector {
	log, _ := quietLogger()
	return &Collector{
		OrganizationName: "Example Sender",
		ContactInfo:      "mailto:tlsrpt@sender.example",
		Now:              clock.Now,
		Logger:           log,
	}
}

// totals sums the sessions of every policy of every report.
func totals(reps []*Report) (ok, failed, detailed int64) {
	for _, r := range reps {
		for _, p := range r.Policies {
			ok += p.Summary.TotalSuccessfulSessionCount
			failed += p.Summary.TotalFailureSessionCount
			for _, d := range p.FailureDetails {
				detailed += d.FailedSessionCount
			}
		}
	}
	return ok, failed, detailed
}

func TestCollectorReport(t *testing.T) {
	clock := newTestClock(day1.Add(10 * time.Hour))
	c := newTestCollector(clock)
	pc := c.Counter(stsPolicy("example.com"))
	for range 5 {
		pc.Success()
	}
	pc.Failure(expiredAt("198.51.100.7"))
	pc.Failure(expiredAt("198.51.100.7"))
	pc.Failure(expiredAt("198.51.100.8"))
	// The policy changed during the day: both are reported for the domain.
	changed := stsPolicy("example.com")
	changed.PolicyString[1] = "mode: testing"
	c.Counter(changed).Success()
	c.Counter(AppliedPolicy{Type: PolicyNotFound, Domain: "b.example"}).Success()

	clock.Set(day2.Add(time.Hour))
	reps, err := c.Reports(context.Background(), day1.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 {
		t.Fatalf("got %d reports, want 2 (b.example, example.com)", len(reps))
	}
	b, e := reps[0], reps[1]
	if b.Policies[0].Policy.Domain != "b.example" || e.Policies[0].Policy.Domain != "example.com" {
		t.Fatalf("reports not ordered by domain: %q, %q", b.Policies[0].Policy.Domain, e.Policies[0].Policy.Domain)
	}
	if e.OrganizationName != "Example Sender" || e.ContactInfo != "mailto:tlsrpt@sender.example" {
		t.Errorf("organization %q contact %q", e.OrganizationName, e.ContactInfo)
	}
	wantRange := DateRange{Start: day1, End: day1.Add(24*time.Hour - time.Second)}
	if !e.DateRange.Start.Equal(wantRange.Start) || !e.DateRange.End.Equal(wantRange.End) {
		t.Errorf("date range %v, want %v", e.DateRange, wantRange)
	}
	idForm := regexp.MustCompile(`^2024-09-03\.example\.com@sender\.example$`)
	if !idForm.MatchString(e.ReportID) {
		t.Errorf("report-id %q does not match %v", e.ReportID, idForm)
	}
	if b.ReportID == e.ReportID {
		t.Errorf("two reports share report-id %q", e.ReportID)
	}
	if len(e.Policies) != 2 {
		t.Fatalf("example.com has %d policies, want 2", len(e.Policies))
	}
	var enforce, testing_ *PolicyResult
	for i := range e.Policies {
		switch e.Policies[i].Policy.PolicyString[1] {
		case "mode: enforce":
			enforce = &e.Policies[i]
		case "mode: testing":
			testing_ = &e.Policies[i]
		}
	}
	if enforce == nil || testing_ == nil {
		t.Fatalf("policies %+v", e.Policies)
	}
	if got := enforce.Summary; got != (Summary{5, 3}) {
		t.Errorf("enforce summary %+v, want 5 successes, 3 failures", got)
	}
	if got := testing_.Summary; got != (Summary{1, 0}) {
		t.Errorf("testing summary %+v", got)
	}
	want := []FailureDetail{expiredAt("198.51.100.7"), expiredAt("198.51.100.8")}
	want[0].FailedSessionCount, want[1].FailedSessionCount = 2, 1
	if fmt.Sprint(enforce.FailureDetails) != fmt.Sprint(want) {
		t.Errorf("details\n got %+v\nwant %+v", enforce.FailureDetails, want)
	}
	if got := b.Policies[0]; got.Policy.Type != PolicyNotFound || got.Summary != (Summary{1, 0}) {
		t.Errorf("b.example %+v", got)
	}
	for _, r := range reps {
		if err := r.Validate(); err != nil {
			t.Errorf("report of %s: %v", r.Policies[0].Policy.Domain, err)
		}
	}
}

func TestCollectorDayNotOver(t *testing.T) {
	clock := newTestClock(day1.Add(23*time.Hour + 59*time.Minute))
	c := newTestCollector(clock)
	c.Counter(stsPolicy("example.com")).Success()
	for _, day := range []time.Time{day1, day2} {
		if _, err := c.Reports(context.Background(), day); !errors.Is(err, ErrDayNotOver) {
			t.Errorf("Reports(%v) = %v, want ErrDayNotOver", day, err)
		}
	}
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil || len(reps) != 1 {
		t.Fatalf("at midnight: %d reports, %v", len(reps), err)
	}
}

func TestCollectorConfigErrors(t *testing.T) {
	clock := newTestClock(day2)
	for _, c := range []*Collector{
		{ContactInfo: "tlsrpt@sender.example", Now: clock.Now},
		{OrganizationName: "x", Now: clock.Now},
		{OrganizationName: "x", ContactInfo: "call +1 555 0100", Now: clock.Now},
	} {
		if _, err := c.Reports(context.Background(), day1); err == nil {
			t.Errorf("Reports with OrganizationName %q ContactInfo %q succeeded", c.OrganizationName, c.ContactInfo)
		}
	}
	c := &Collector{OrganizationName: "x", ContactInfo: "call +1 555 0100", Submitter: "sender.example", Now: clock.Now}
	if _, err := c.Reports(context.Background(), day1); err != nil {
		t.Errorf("with Submitter: %v", err)
	}
}

func TestContactDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mailto:tlsrpt@Sender.Example":         "sender.example",
		"tlsrpt@sender.example":                "sender.example",
		"<tlsrpt@sender.example>":              "sender.example",
		"mailto:a@x.example?subject=hi":        "x.example",
		"https://sender.example/tlsrpt":        "sender.example",
		"https://reports.sender.example:8443/": "reports.sender.example",
		"smtp-tls-reporting@google.com":        "google.com",
		"call us":                              "",
		"a@b_c.example":                        "",
		"":                                     "",
	} {
		if got := contactDomain(in); got != want {
			t.Errorf("contactDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollectorPolicyIdentity(t *testing.T) {
	c := newTestCollector(newTestClock(day1))
	a := c.Counter(stsPolicy("example.com"))
	p := stsPolicy("example.com")
	p.Domain = "Example.COM."
	p.MXHost[0] = "MX1.example.com."
	if b := c.Counter(p); b != a {
		t.Error("host names differing in case and trailing dot give different counters")
	}
	p.PolicyString[0] = "VERSION: STSv1"
	if b := c.Counter(p); b == a {
		t.Error("different policy-string lines give the same counter")
	}
	for _, q := range []AppliedPolicy{
		{Type: PolicyTLSA, Domain: "example.com"},
		{Type: PolicySTS, Domain: "example.com"},
		{Type: PolicySTS, Domain: "example.com", MXHost: []string{"a"}},
		{Type: PolicySTS, Domain: "example.com", PolicyString: []string{"a"}},
	} {
		first := c.Counter(q)
		if first == a || c.Counter(q) != first {
			t.Errorf("policy %+v: wrong counter", q)
		}
	}
	// The counter keeps its own copy of the policy.
	q := stsPolicy("copy.example")
	pc := c.Counter(q)
	q.PolicyString[0] = "changed"
	if pc.policy.PolicyString[0] != "version: STSv1" {
		t.Error("counter shares the caller's slice")
	}
}

func TestCollectorDetailsAggregate(t *testing.T) {
	clock := newTestClock(day1)
	c := newTestCollector(clock)
	pc := c.Counter(stsPolicy("example.com"))
	d := expiredAt("198.51.100.7")
	pc.Failure(d)
	d.ReceivingMXHostname = "MX1.Example.COM."
	d.ReceivingIP = netip.MustParseAddr("::ffff:198.51.100.7")
	d.FailedSessionCount = 40 // ignored: one call, one session
	pc.Failure(d)
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	got := reps[0].Policies[0].FailureDetails
	want := expiredAt("198.51.100.7")
	want.FailedSessionCount = 2
	if len(got) != 1 || got[0] != want {
		t.Errorf("details %+v, want one %+v", got, want)
	}
}

// TestCollectorConcurrent records from many goroutines, some policies
// shared and some not, while another goroutine keeps flushing; every
// session must be counted exactly once.
func TestCollectorConcurrent(t *testing.T) {
	clock := newTestClock(day1.Add(12 * time.Hour))
	c := newTestCollector(clock)
	const workers, perWorker = 16, 2000
	domains := []string{"a.example", "b.example", "c.example"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	flushed := make(chan error, 1)
	go func() {
		var err error
		for {
			select {
			case <-stop:
				flushed <- err
				return
			default:
				if e := c.Flush(context.Background()); e != nil {
					err = e
				}
				runtime.Gosched()
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			own := c.Counter(stsPolicy(fmt.Sprintf("w%d.example", w)))
			for i := range perWorker {
				shared := c.Counter(stsPolicy(domains[i%len(domains)]))
				switch i % 4 {
				case 0:
					shared.Failure(expiredAt(fmt.Sprintf("198.51.100.%d", i%7)))
				case 1:
					own.Failure(expiredAt("203.0.113.9"))
				default:
					shared.Success()
					own.Success()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != len(domains)+workers {
		t.Fatalf("%d reports, want %d", len(reps), len(domains)+workers)
	}
	ok, failed, detailed := totals(reps)
	const quarter = workers * perWorker / 4
	if ok != 4*quarter || failed != 2*quarter || detailed != failed {
		t.Errorf("successes %d failures %d in details %d; want %d, %d, %d", ok, failed, detailed, 4*quarter, 2*quarter, 2*quarter)
	}
	for _, r := range reps {
		if d := r.Policies[0].Policy.Domain; d == "a.example" {
			if n := len(r.Policies[0].FailureDetails); n != 7 {
				t.Errorf("a.example has %d details, want 7", n)
			}
		}
	}
}

// steppingClock returns a later time at each call, so that the day of every
// recorded session is known in advance.
type steppingClock struct {
	start time.Time
	step  time.Duration
	n     atomic.Int64
}

func (s *steppingClock) Now() time.Time {
	return s.start.Add(time.Duration(s.n.Add(1)) * s.step)
}

// TestCollectorMidnight records from several goroutines while the clock
// crosses 00:00 UTC: each session counts for the day the clock gave it.
func TestCollectorMidnight(t *testing.T) {
	const calls = 40000
	const step = time.Millisecond
	before := 25000 // calls 1..before-1 fall before midnight
	clock := &steppingClock{start: day2.Add(-time.Duration(before) * step), step: step}
	log, _ := quietLogger()
	c := &Collector{OrganizationName: "o", ContactInfo: "tlsrpt@sender.example", Now: clock.Now, Logger: log}
	pc := c.Counter(stsPolicy("example.com"))
	fail := expiredAt("198.51.100.7")
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := range calls / workers {
				if (i+w)%5 == 0 {
					pc.Failure(fail)
				} else {
					pc.Success()
				}
			}
		})
	}
	wg.Wait()
	if n := clock.n.Load(); n != calls {
		t.Fatalf("clock read %d times, want one per session (%d)", n, calls)
	}
	// Move past the end of day 2 so that both days can be reported.
	clock.start = day3.Add(time.Hour)
	clock.n.Store(0)
	var sums [2][3]int64
	for i, day := range []time.Time{day1, day2} {
		reps, err := c.Reports(context.Background(), day)
		if err != nil {
			t.Fatal(err)
		}
		sums[i][0], sums[i][1], sums[i][2] = totals(reps)
		if len(reps) == 1 && !reps[0].DateRange.Start.Equal(day) {
			t.Errorf("report for %v starts %v", day, reps[0].DateRange.Start)
		}
	}
	if got := sums[0][0] + sums[0][1]; got != int64(before-1) {
		t.Errorf("day 1 has %d sessions, want %d", got, before-1)
	}
	if got := sums[1][0] + sums[1][1]; got != int64(calls-before+1) {
		t.Errorf("day 2 has %d sessions, want %d", got, calls-before+1)
	}
	if sums[0][1]+sums[1][1] != calls/5 || sums[0][2] != sums[0][1] || sums[1][2] != sums[1][1] {
		t.Errorf("failures %v, want %d in all, each day's details summing to its total", sums, calls/5)
	}
}

func TestCollectorOverflow(t *testing.T) {
	clock := newTestClock(day1)
	log, logged := quietLogger()
	c := &Collector{OrganizationName: "o", ContactInfo: "tlsrpt@sender.example", Now: clock.Now, Logger: log, MaxFailureDetails: 3}
	pc := c.Counter(stsPolicy("example.com"))
	for i := range 10 {
		pc.Failure(expiredAt(fmt.Sprintf("198.51.100.%d", i)))
	}
	pc.Failure(expiredAt("198.51.100.0")) // a detail already kept: counted in it
	private := expiredAt("203.0.113.1")
	private.ResultType = "x-private-type"
	pc.Failure(private)
	private.ReceivingIP = netip.MustParseAddr("203.0.113.2")
	pc.Failure(private)
	pc.Success()
	if got := c.Overflow(); got != 9 {
		t.Errorf("Overflow() = %d, want 9", got)
	}
	if n := bytes.Count([]byte(logged.String()), []byte("too many distinct failure details")); n != 1 {
		t.Errorf("logged the overflow %d times, want once:\n%s", n, logged)
	}
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	if err := reps[0].Validate(); err != nil {
		t.Errorf("report with folded details: %v", err)
	}
	pr := reps[0].Policies[0]
	if pr.Summary != (Summary{1, 13}) {
		t.Errorf("summary %+v, want 1 success, 13 failures", pr.Summary)
	}
	byKey := map[FailureDetail]int64{}
	for _, d := range pr.FailureDetails {
		byKey[detailKey(d)] = d.FailedSessionCount
	}
	want := map[FailureDetail]int64{
		expiredAt("198.51.100.0"): 2,
		expiredAt("198.51.100.1"): 1,
		expiredAt("198.51.100.2"): 1,
		{ResultType: ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailureReasonCode: ReasonDetailLimit}: 7,
		{ResultType: ResultValidationFailure, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailureReasonCode: ReasonDetailLimit}:  2,
	}
	if fmt.Sprint(byKey) != fmt.Sprint(want) {
		t.Errorf("details\n got %v\nwant %v", byKey, want)
	}

	// The next day starts with a fresh bound.
	clock.Set(day2.Add(time.Hour))
	pc.Failure(expiredAt("198.51.100.9"))
	clock.Set(day3)
	reps, err = c.Reports(context.Background(), day2)
	if err != nil {
		t.Fatal(err)
	}
	if d := reps[0].Policies[0].FailureDetails; len(d) != 1 || d[0].ReceivingIP != netip.MustParseAddr("198.51.100.9") {
		t.Errorf("day 2 details %+v", d)
	}
}

// TestCollectorStoreBound applies MaxFailureDetails to what a fleet put in
// the store.
func TestCollectorStoreBound(t *testing.T) {
	store := new(MemoryStore)
	var details []FailureDetail
	for i := range 5 {
		d := expiredAt(fmt.Sprintf("198.51.100.%d", i))
		d.FailedSessionCount = int64(10 - i)
		details = append(details, d)
	}
	err := store.Add(context.Background(), day1, []PolicyResult{{
		Policy: stsPolicy("example.com"), Summary: Summary{0, 40}, FailureDetails: details,
	}})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := quietLogger()
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example", Store: store, MaxFailureDetails: 2, Now: newTestClock(day2).Now, Logger: log}
	reps, err := c.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	// The two largest are kept, the other three folded; largest first.
	got := reps[0].Policies[0].FailureDetails
	want := []FailureDetail{
		{ResultType: ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailureReasonCode: ReasonDetailLimit, FailedSessionCount: 8 + 7 + 6},
		details[0], details[1],
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("details\n got %+v\nwant %+v", got, want)
	}
}

// failingStore fails Add while fail is set.
type failingStore struct {
	MemoryStore
	fail atomic.Bool
}

func (s *failingStore) Add(ctx context.Context, day time.Time, rs []PolicyResult) error {
	if s.fail.Load() {
		return errors.New("database unavailable")
	}
	return s.MemoryStore.Add(ctx, day, rs)
}

func TestCollectorFlushFailureKeepsCounts(t *testing.T) {
	clock := newTestClock(day1)
	store := new(failingStore)
	c := newTestCollector(clock)
	c.Store = store
	pc := c.Counter(stsPolicy("example.com"))
	pc.Success()
	pc.Failure(expiredAt("198.51.100.7"))
	store.fail.Store(true)
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("Flush succeeded with a failing store")
	}
	pc.Success()
	clock.Set(day2)
	pc.Success() // day 2
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("second Flush succeeded with a failing store")
	}
	store.fail.Store(false)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for day, want := range map[time.Time]Summary{day1: {2, 1}, day2: {1, 0}} {
		rs, _ := store.Results(context.Background(), day)
		if len(rs) != 1 || rs[0].Summary != want || (want.TotalFailureSessionCount > 0 && rs[0].FailureDetails[0].FailedSessionCount != 1) {
			t.Errorf("%v: stored %+v, want summary %+v", day, rs, want)
		}
	}
	// Reports fails while the store does.
	store.fail.Store(true)
	pc.Success()
	clock.Set(day3)
	if _, err := c.Reports(context.Background(), day2); err == nil {
		t.Error("Reports succeeded while Flush failed")
	}
}

func TestCollectorFleet(t *testing.T) {
	clock := newTestClock(day1)
	store := new(MemoryStore)
	var mtas []*Collector
	for range 3 {
		c := newTestCollector(clock)
		c.Store = store
		mtas = append(mtas, c)
	}
	for i, c := range mtas {
		pc := c.Counter(stsPolicy("example.com"))
		for range i + 1 {
			pc.Success()
			pc.Failure(expiredAt("198.51.100.7"))
		}
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(day2)
	reporter := newTestCollector(clock)
	reporter.Store = store
	reps, err := reporter.Reports(context.Background(), day1)
	if err != nil {
		t.Fatal(err)
	}
	pr := reps[0].Policies[0]
	if len(reps) != 1 || len(reps[0].Policies) != 1 || pr.Summary != (Summary{6, 6}) || pr.FailureDetails[0].FailedSessionCount != 6 {
		t.Errorf("fleet report %+v", reps)
	}
}

// TestCollectorEviction: a policy idle for two days is dropped from memory,
// and a counter the caller kept still counts.
func TestCollectorEviction(t *testing.T) {
	clock := newTestClock(day1)
	c := newTestCollector(clock)
	kept := c.Counter(stsPolicy("example.com"))
	kept.Success()
	clock.Set(day3.Add(time.Hour))
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	n := len(c.counters)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d counters after two idle days, want 0", n)
	}
	kept.Success()
	kept.Failure(expiredAt("198.51.100.7"))
	fresh := c.Counter(stsPolicy("example.com"))
	if fresh != kept {
		t.Error("Policy does not return the re-registered counter")
	}
	fresh.Success()
	clock.Set(day3.AddDate(0, 0, 1))
	reps, err := c.Reports(context.Background(), day3)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Policies[0].Summary != (Summary{2, 1}) {
		t.Errorf("after eviction: %+v", reps)
	}
	reps, err = c.Reports(context.Background(), day1)
	if err != nil || len(reps) != 1 || reps[0].Policies[0].Summary != (Summary{1, 0}) {
		t.Errorf("day 1: %+v %v", reps, err)
	}
}

// TestCollectorSlotReuse: a clock that jumps more than a week keeps every
// count, in the day the clock said.
func TestCollectorSlotReuse(t *testing.T) {
	clock := newTestClock(day1)
	c := newTestCollector(clock)
	pc := c.Counter(stsPolicy("example.com"))
	pc.Success()
	pc.Failure(expiredAt("198.51.100.7"))
	later := day1.AddDate(0, 0, daySlots) // the same slot, without a Flush
	clock.Set(later)
	pc.Success()
	clock.Set(later.AddDate(0, 0, 1))
	for day, want := range map[time.Time]Summary{day1: {1, 1}, later: {1, 0}} {
		reps, err := c.Reports(context.Background(), day)
		if err != nil || len(reps) != 1 || reps[0].Policies[0].Summary != want {
			t.Errorf("%v: %+v %v, want %+v", day, reps, err, want)
		}
	}
}

func TestCollectorNoDomain(t *testing.T) {
	clock := newTestClock(day1)
	log, logged := quietLogger()
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example", Now: clock.Now, Logger: log}
	c.Counter(AppliedPolicy{Type: PolicyNotFound}).Success()
	clock.Set(day2)
	reps, err := c.Reports(context.Background(), day1)
	if err != nil || len(reps) != 0 {
		t.Errorf("got %+v %v, want no report", reps, err)
	}
	if !bytes.Contains([]byte(logged.String()), []byte("without a domain")) {
		t.Errorf("not logged: %q", logged)
	}
}

func TestRecordAllocs(t *testing.T) {
	c := newTestCollector(newTestClock(day1))
	p := stsPolicy("example.com")
	pc := c.Counter(p)
	d := expiredAt("198.51.100.7")
	pc.Failure(d)
	for name, f := range map[string]func(){
		"Success":          pc.Success,
		"Failure":          func() { pc.Failure(d) },
		"Policy().Success": func() { c.Counter(p).Success() },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

// TestCollectorSystemClock: without Now, sessions count on the system
// clock's day.
func TestCollectorSystemClock(t *testing.T) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	pc := c.Counter(stsPolicy("example.com"))
	before := dayNumber(time.Now())
	pc.Success()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs, err := c.store.Results(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rs2, _ := c.store.Results(context.Background(), dayStart(before)); len(rs) == 0 && len(rs2) == 1 {
		rs = rs2 // the test ran across midnight
	}
	if len(rs) != 1 || rs[0].Summary.TotalSuccessfulSessionCount != 1 {
		t.Errorf("stored %+v", rs)
	}
}
