package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOutboxDelivers: an enqueued report reaches both destinations of the
// record, once, the email DKIM-signed; the state says so, the body is gone,
// and running again sends nothing.
func TestOutboxDelivers(t *testing.T) {
	w := newReportWorld(t)
	rep := collectedReport(t)
	clock := newTestClock(day2.Add(time.Hour))
	o := w.outbox(t.TempDir(), clock.Now)
	ctx := context.Background()
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(ctx, rep); err != nil { // idempotent
		t.Fatal(err)
	}
	next, err := o.RunOnce(ctx)
	if err != nil || !next.IsZero() {
		t.Fatalf("RunOnce = %v, %v; want nothing left to do", next, err)
	}
	if p, m := w.counts(rep.ReportID); p != 1 || m != 1 {
		t.Fatalf("report accepted %d times by POST, mailed %d times; want 1, 1", p, m)
	}
	w.verifyDKIM(t, w.mailedRaw[0])
	es, err := o.Entries(ctx)
	if err != nil || len(es) != 1 {
		t.Fatalf("Entries = %+v, %v", es, err)
	}
	e := es[0]
	if e.ReportID != rep.ReportID || e.PolicyDomain != "example.com" || !e.Day.Equal(day1) || e.Finished.IsZero() ||
		e.Lookup.State != DeliveryDone || len(e.Deliveries) != 2 {
		t.Fatalf("entry %+v", e)
	}
	for _, d := range e.Deliveries {
		if d.State != DeliveryDone || d.Attempts != 1 || d.LastError != "" {
			t.Errorf("delivery %+v", d)
		}
	}
	if bodies, _ := o.Store.Keys(ctx, bodyPrefix); len(bodies) != 0 {
		t.Errorf("bodies %v left after delivery", bodies)
	}
	clock.Set(day2.Add(5 * time.Hour))
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if p, m := w.counts(rep.ReportID); p != 1 || m != 1 || w.posts.Load() != 1 || w.rcpts.Load() != 1 {
		t.Errorf("sent again: %d, %d accepted; %d POSTs, %d RCPTs", p, m, w.posts.Load(), w.rcpts.Load())
	}
}

// TestOutboxRetrySchedule: failed attempts are retried with the wait
// doubling from Sender.Backoff, each scheduled attempt stored before the
// wait, and a destination that keeps failing is given up at the end of
// the retry window (RFC 8460 §5.5) after its last attempt within it.
func TestOutboxRetrySchedule(t *testing.T) {
	w := newReportWorld(t)
	w.failPOST.Store(1 << 20)
	w.failRCPT.Store(2)
	rep := collectedReport(t)
	start := day2.Add(time.Hour)
	clock := newTestClock(start)
	logger, logs := quietLogger()
	o := w.outbox(t.TempDir(), clock.Now)
	o.Logger = logger
	ctx := context.Background()
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for range 100 {
		next, err := o.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, clock.Now().Sub(start))
		if next.IsZero() {
			break
		}
		clock.Set(next)
	}
	// POSTs at 0, 1m, 3m, 7m, ... until the window of 24 h ends.
	var want []time.Duration
	for at, wait := time.Duration(0), time.Minute; at < 24*time.Hour; at, wait = at+wait, min(2*wait, 4*time.Hour) {
		want = append(want, at)
	}
	if fmt.Sprint(times) != fmt.Sprint(want) {
		t.Errorf("attempts at\n %v\nwant\n %v", times, want)
	}
	if int(w.posts.Load()) != len(want) {
		t.Errorf("%d POSTs, want %d", w.posts.Load(), len(want))
	}
	if _, m := w.counts(rep.ReportID); m != 1 || w.rcpts.Load() != 3 {
		t.Errorf("mailed %d times after %d RCPTs, want once after 3", m, w.rcpts.Load())
	}
	es, _ := o.Entries(ctx)
	var post Delivery
	for _, d := range es[0].Deliveries {
		if strings.HasPrefix(d.URI, "https:") {
			post = d
		}
	}
	if post.State != DeliveryGivenUp || !strings.Contains(post.LastError, "retry window") || !strings.Contains(post.LastError, "503") {
		t.Errorf("POST delivery %+v, want given up at the end of the window after 503s", post)
	}
	if !strings.Contains(logs.String(), "giving up a report delivery") {
		t.Errorf("giving up not logged:\n%s", logs)
	}
}

// TestOutboxPastWindow: a report whose window ended while the process was
// down is given up and logged without an attempt.
func TestOutboxPastWindow(t *testing.T) {
	w := newReportWorld(t)
	rep := collectedReport(t)
	clock := newTestClock(day2.Add(time.Hour))
	logger, logs := quietLogger()
	dir := t.TempDir()
	o := w.outbox(dir, clock.Now)
	ctx := context.Background()
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	clock.Set(day2.Add(26 * time.Hour))
	o = w.outbox(dir, clock.Now) // a restart, a day later
	o.Logger = logger
	if next, err := o.RunOnce(ctx); err != nil || !next.IsZero() {
		t.Fatalf("RunOnce = %v, %v", next, err)
	}
	es, _ := o.Entries(ctx)
	if len(es) != 1 || es[0].Lookup.State != DeliveryGivenUp || es[0].Finished.IsZero() {
		t.Fatalf("entries %+v", es)
	}
	if w.posts.Load() != 0 || w.rcpts.Load() != 0 || !strings.Contains(logs.String(), "retry window ended") {
		t.Errorf("%d POSTs, %d RCPTs; log:\n%s", w.posts.Load(), w.rcpts.Load(), logs)
	}
}

// TestOutboxStartWindow: the first attempt is at a random moment of
// StartWindow after midnight UTC, stored with the entry, so a restart
// keeps it; nothing is sent before.
func TestOutboxStartWindow(t *testing.T) {
	w := newReportWorld(t)
	rep := collectedReport(t)
	clock := newTestClock(day2.Add(time.Minute))
	dir := t.TempDir()
	o := w.outbox(dir, clock.Now)
	o.StartWindow = 3 * time.Hour
	ctx := context.Background()
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	es, _ := o.Entries(ctx)
	start := es[0].Start
	if start.Before(day2.Add(time.Minute)) || !start.Before(day2.Add(3*time.Hour)) {
		t.Fatalf("start %v, not in the window", start)
	}
	o = w.outbox(dir, clock.Now)
	o.StartWindow = 3 * time.Hour
	next, err := o.RunOnce(ctx)
	if err != nil || !next.Equal(start) || w.posts.Load() != 0 {
		t.Fatalf("RunOnce = %v, %v (%d POSTs), want nothing sent before %v", next, err, w.posts.Load(), start)
	}
	clock.Set(start)
	if next, err := o.RunOnce(ctx); err != nil || !next.IsZero() {
		t.Fatalf("RunOnce = %v, %v", next, err)
	}
	if p, m := w.counts(rep.ReportID); p != 1 || m != 1 {
		t.Errorf("accepted %d, mailed %d", p, m)
	}
}

// fakeLeader is a DayLeader in memory: this process leads the days in
// lead.
type fakeLeader struct {
	mu   sync.Mutex
	lead map[time.Time]bool
	done []time.Time
}

func (l *fakeLeader) Lead(ctx context.Context, day time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lead[day], nil
}

func (l *fakeLeader) Done(ctx context.Context, day time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, day)
	l.lead[day] = false
	return nil
}

// TestOutboxDailyJob: RunOnce makes the reports of every finished day of
// the Collector (those led by this process), enqueues and delivers them,
// and deletes their results; the day being counted is left alone, and
// nothing is made twice.
func TestOutboxDailyJob(t *testing.T) {
	w := newReportWorld(t, "b.example")
	clock := newTestClock(day1.Add(time.Hour))
	c := newTestCollector(clock)
	c.Counter(stsPolicy("example.com")).Success()
	clock.Set(day2.Add(time.Hour))
	c.Counter(stsPolicy("example.com")).Success()
	c.Counter(stsPolicy("b.example")).Success()
	clock.Set(day3.Add(time.Hour))
	c.Counter(stsPolicy("b.example")).Success() // today: not reported yet
	leader := &fakeLeader{lead: map[time.Time]bool{day1: true, day2: true}}
	o := w.outbox(t.TempDir(), clock.Now)
	o.Collector, o.Leader = c, leader
	ctx := context.Background()
	next, err := o.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := day3.AddDate(0, 0, 1).Add(ReportDelay); !next.Equal(want) {
		t.Errorf("next %v, want %v", next, want)
	}
	ids := []string{"2024-09-03.example.com@sender.example", "2024-09-04.b.example@sender.example", "2024-09-04.example.com@sender.example"}
	for _, id := range ids {
		if p, _ := w.counts(id); p != 1 {
			t.Errorf("report %s accepted %d times", id, p)
		}
	}
	if len(leader.done) != 2 {
		t.Errorf("Done for %v", leader.done)
	}
	days, _ := c.store.Days(ctx)
	if len(days) != 1 || !days[0].Equal(day3) {
		t.Errorf("days left in the store: %v, want today's", days)
	}
	// The next day, another process leads: nothing is made here, and
	// the day is looked at again soon, in case its leader's lease ends.
	clock.Set(day3.AddDate(0, 0, 1).Add(time.Hour))
	next, err = o.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(ReportDelay); !next.Equal(want) {
		t.Errorf("next %v, want %v", next, want)
	}
	if w.posts.Load() != 3 {
		t.Errorf("%d POSTs, want 3", w.posts.Load())
	}
	if days, _ := c.store.Days(ctx); len(days) != 1 {
		t.Errorf("days %v: a day led elsewhere must stay for its leader", days)
	}
}

// TestOutboxDayMarker: a day whose reports are enqueued is not made again,
// though its results could not be deleted, and the Delete is retried.
func TestOutboxDayMarker(t *testing.T) {
	w := newReportWorld(t)
	clock := newTestClock(day1.Add(time.Hour))
	store := &undeletableStore{}
	c := newTestCollector(clock)
	c.Store = store
	c.Counter(stsPolicy("example.com")).Success()
	clock.Set(day2.Add(time.Hour))
	o := w.outbox(t.TempDir(), clock.Now)
	o.Collector = c
	ctx := context.Background()
	if _, err := o.RunOnce(ctx); err == nil {
		t.Fatal("RunOnce hid the failing Delete")
	}
	store.ok = true
	clock.Set(day2.Add(2 * time.Hour))
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if w.posts.Load() != 1 || store.deletes != 2 {
		t.Errorf("%d POSTs, %d deletes; want 1, 2", w.posts.Load(), store.deletes)
	}
	if days, _ := store.Days(ctx); len(days) != 0 {
		t.Errorf("days %v left", days)
	}
}

type undeletableStore struct {
	MemoryStore
	ok      bool
	deletes int
}

func (s *undeletableStore) Delete(ctx context.Context, day time.Time) error {
	s.deletes++
	if !s.ok {
		return errors.New("store unavailable")
	}
	return s.MemoryStore.Delete(ctx, day)
}

// TestOutboxLookup: a domain without a record is given up at once; a DNS
// failure is retried.
func TestOutboxLookup(t *testing.T) {
	w := newReportWorld(t)
	w.dns = startDNS(t, map[string]txtAnswer{"_smtp._tls.example.com.": {rcode: 2}}) // SERVFAIL
	clock := newTestClock(day2.Add(time.Hour))
	logger, _ := quietLogger()
	o := w.outbox(t.TempDir(), clock.Now)
	o.Logger = logger
	ctx := context.Background()
	rep := collectedReport(t)
	none := *rep
	none.ReportID = "2024-09-03.none.example@sender.example"
	none.Policies = []PolicyResult{{Policy: stsPolicy("none.example"), Summary: Summary{TotalSuccessfulSessionCount: 1}}}
	for _, r := range []*Report{rep, &none} {
		if err := o.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	next, err := o.RunOnce(ctx)
	if err != nil || !next.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("RunOnce = %v, %v", next, err)
	}
	es, _ := o.Entries(ctx)
	for _, e := range es {
		switch e.PolicyDomain {
		case "none.example":
			if e.Lookup.State != DeliveryGivenUp || !strings.Contains(e.Lookup.LastError, "no TLS-RPT record") || e.Finished.IsZero() {
				t.Errorf("none.example: %+v", e.Lookup)
			}
		case "example.com":
			if e.Lookup.State != DeliveryPending || e.Lookup.Attempts != 1 || !strings.Contains(e.Lookup.LastError, "temporary") {
				t.Errorf("example.com: %+v", e.Lookup)
			}
		}
	}
}

// TestOutboxDamagedBody: a body that does not match its checksum is not
// sent; its deliveries are given up.
func TestOutboxDamagedBody(t *testing.T) {
	w := newReportWorld(t)
	clock := newTestClock(day2.Add(time.Hour))
	dir := t.TempDir()
	o := w.outbox(dir, clock.Now)
	ctx := context.Background()
	rep := collectedReport(t)
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, bodyPrefix+entryKey(rep.ReportID))
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	es, _ := o.Entries(ctx)
	for _, d := range es[0].Deliveries {
		if d.State != DeliveryGivenUp || !strings.Contains(d.LastError, "checksum") {
			t.Errorf("delivery %+v", d)
		}
	}
	if w.posts.Load() != 0 || w.rcpts.Load() != 0 {
		t.Error("a damaged report was sent")
	}
}

// TestOutboxPrune: finished entries and day markers go after Keep; a body
// whose state was never written (a crash inside Enqueue) goes at once.
func TestOutboxPrune(t *testing.T) {
	w := newReportWorld(t)
	clock := newTestClock(day2.Add(time.Hour))
	o := w.outbox(t.TempDir(), clock.Now)
	o.Keep = 48 * time.Hour
	ctx := context.Background()
	if err := o.Enqueue(ctx, collectedReport(t)); err != nil {
		t.Fatal(err)
	}
	orphan := bodyPrefix + entryKey("lost")
	if err := o.Store.Put(ctx, orphan, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := o.Store.Put(ctx, dayKey(dayNumber(day1)), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _ := o.Store.Keys(ctx, "")
	if len(keys) != 2 { // the finished state, the day marker
		t.Errorf("keys %v", keys)
	}
	clock.Set(day2.Add(50 * time.Hour))
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := o.Store.Keys(ctx, ""); len(keys) != 0 {
		t.Errorf("keys %v left after Keep", keys)
	}
}

// TestOutboxConcurrentDays: reports of many days enqueued and delivered
// from several goroutines at once (run with -race) each reach the receiver
// once.
func TestOutboxConcurrentDays(t *testing.T) {
	w := newReportWorld(t)
	clock := newTestClock(day1.AddDate(0, 0, 20))
	o := w.outbox(t.TempDir(), clock.Now)
	o.Workers = 3
	ctx := context.Background()
	base := collectedReport(t)
	var reports []*Report
	for i := range 12 {
		r := *base
		d := dayNumber(day1) + int64(i)
		r.DateRange = dateRange(d)
		r.ReportID = reportID(d, "example.com", "sender.example")
		reports = append(reports, &r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(reports); i += 4 {
				if err := o.Enqueue(ctx, reports[i]); err != nil {
					errs <- err
				}
				if _, err := o.RunOnce(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	if _, err := o.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, r := range reports {
		if p, m := w.counts(r.ReportID); p != 1 || m != 1 {
			t.Errorf("%s: accepted %d, mailed %d", r.ReportID, p, m)
		}
	}
}

// TestOutboxRun: Run waits with Wait until the next attempt and ends with
// its context.
func TestOutboxRun(t *testing.T) {
	w := newReportWorld(t)
	w.failPOST.Store(1)
	clock := newTestClock(day2.Add(time.Hour))
	o := w.outbox(t.TempDir(), clock.Now)
	rep := collectedReport(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := o.Enqueue(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	o.Wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 3 {
			cancel()
			return ctx.Err()
		}
		clock.Set(clock.Now().Add(d))
		return nil
	}
	if err := o.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if fmt.Sprint(waits) != "[1m0s 1h0m0s 1h0m0s]" {
		t.Errorf("waits %v", waits)
	}
	if p, m := w.counts(rep.ReportID); p != 1 || m != 1 {
		t.Errorf("accepted %d, mailed %d", p, m)
	}
}

// TestReportIDStable: the report-id of a day's report of a domain is the
// same from every Collector and call.
func TestReportIDStable(t *testing.T) {
	var ids []string
	for range 2 {
		clock := newTestClock(day1.Add(time.Hour))
		c := newTestCollector(clock)
		c.Counter(stsPolicy("example.com")).Success()
		clock.Set(day2)
		for range 2 {
			reps, err := c.Reports(context.Background(), day1)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, reps[0].ReportID)
		}
	}
	for _, id := range ids {
		if id != "2024-09-03.example.com@sender.example" {
			t.Errorf("report-ids %q", ids)
			break
		}
	}
}
