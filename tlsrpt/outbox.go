package tlsrpt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Defaults of an Outbox whose fields are zero.
const (
	// DefaultRetryWindow is how long a report is tried after its first
	// attempt: RFC 8460 §5.5 asks for up to 24 hours.
	DefaultRetryWindow = 24 * time.Hour
	// DefaultStartWindow spreads the first attempts of a day's reports
	// over the first hours after midnight UTC, so that the receivers of
	// the world do not get every report at 00:00 (RFC 8460 §5).
	DefaultStartWindow = 4 * time.Hour
	// DefaultOutboxWorkers is the number of reports delivered at once.
	DefaultOutboxWorkers = 4
	// DefaultOutboxKeep is how long the state of a finished report, and
	// the marker of a day whose reports are enqueued, are kept.
	DefaultOutboxKeep = 7 * 24 * time.Hour
)

// ReportDelay is how long after midnight UTC an Outbox with a Collector
// makes the reports of the day that ended: time for the MTAs sharing the
// Collector's store, flushing every few minutes, to have stored their
// last counts of the day.
const ReportDelay = 15 * time.Minute

// A DayLeader elects, among a fleet of MTAs sharing one ResultStore, the
// one process that makes and enqueues the reports of a UTC day.
type DayLeader interface {
	// Lead reports whether this process is to make and enqueue the reports of
	// day (00:00 UTC). False means another process has done so, or holds an
	// unexpired lease for it. A lease expires, so a crashed leader does not
	// block the day.
	Lead(ctx context.Context, day time.Time) (bool, error)
	// Done records that the reports of day are enqueued: Lead returns false
	// for day from then on, in every process.
	Done(ctx context.Context, day time.Time) error
}

// DeliveryState is the state of one delivery of a report.
type DeliveryState string

// Delivery states.
const (
	// DeliveryPending is to be tried at NextAttempt.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDone was accepted (a 2xx, an SMTP 250): it is never tried
	// again. For the lookup of the record, the record was found.
	DeliveryDone DeliveryState = "delivered"
	// DeliveryGivenUp failed for good (a final error, or the retry window
	// ended): it is never tried again. LastError says why.
	DeliveryGivenUp DeliveryState = "given-up"
)

// A Delivery is the state of one destination of a report in an Outbox.
type Delivery struct {
	// URI is the rua destination (RFC 8460 §3), or for the lookup of the
	// record its DNS name, _smtp._tls.<policy domain>.
	URI   string        `json:"uri"`
	State DeliveryState `json:"state"`
	// Attempts counts the attempts made, LastAttempt is the time of the
	// last.
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last-attempt,omitzero"`
	// NextAttempt is when a pending delivery is tried next.
	NextAttempt time.Time `json:"next-attempt,omitzero"`
	// LastError is the error of the last failed attempt, or why the
	// delivery was given up.
	LastError string `json:"last-error,omitempty"`
}

// An OutboxEntry is the state of one report in an Outbox.
type OutboxEntry struct {
	ReportID     string    `json:"report-id"`
	PolicyDomain string    `json:"policy-domain"`
	Day          time.Time `json:"day"` // 00:00 UTC of the day reported on
	Enqueued     time.Time `json:"enqueued"`
	// Start is the time of the first attempt: a random moment in the
	// StartWindow after the end of Day, or the enqueueing if later. The
	// retry window runs from it.
	Start time.Time `json:"start"`
	// Size is the length of the gzip-compressed report.
	Size int `json:"size"`
	// Lookup is the lookup of the policy domain's TLS-RPT record, done at
	// Start and retried like a delivery while DNS fails.
	Lookup Delivery `json:"lookup"`
	// Deliveries are the destinations of the record, at most 10, once
	// it is found.
	Deliveries []Delivery `json:"deliveries,omitempty"`
	// Finished is when the last delivery was done or given up, or zero.
	Finished time.Time `json:"finished,omitzero"`
}

// outboxState is what the Outbox stores under an entry's state key.
type outboxState struct {
	Version int `json:"version"`
	OutboxEntry
	Report     reportMeta `json:"report"`
	BodySHA256 string     `json:"body-sha256"`
}

const outboxVersion = 1

// An Outbox delivers reports so that none is lost: each is stored, body
// and per-destination state, before its first attempt, and the state is
// stored again after every attempt, so a process that restarts resumes
// every pending delivery at its scheduled time, never sends a report
// again to a destination that accepted it, and keeps to RFC 8460 §5.5's
// retry window (RetryWindow from the first attempt, waits doubling from
// Sender.Backoff up to 4 hours) across restarts. Reports still undelivered
// at the end of their window are given up and logged.
//
// RunOnce (or Run, which calls it whenever something is due) is the daily
// job of an MTA: it makes the reports of every finished day from the
// Collector, enqueues them, delivers what is due, retries, and prunes.
// Enqueue adds reports made some other way.
//
// A fleet of MTAs sharing one ResultStore gives each its own Outbox (and
// OutboxStore) and one DayLeader: the leader of a day makes and enqueues
// its reports, the others skip it.
//
// Set the fields before first use and do not change them after. An Outbox
// is safe for concurrent use; an OutboxStore must serve one Outbox.
type Outbox struct {
	// Store keeps the entries; required. DirOutbox is one.
	Store OutboxStore
	// Sender delivers; required. Its Attempts field is not used: the
	// retry window is.
	Sender *Sender
	// Resolver looks up the TLS-RPT records of policy domains (see
	// LookupRecord); nil means net.DefaultResolver.
	Resolver Resolver
	// Collector, when not nil, is where RunOnce makes the reports of every
	// finished UTC day from, ReportDelay after its midnight. Their results
	// are deleted from the Collector's Store once the reports are
	// enqueued. The results of a day that ended more than Keep ago (the
	// process was down) are deleted unreported, and logged.
	Collector *Collector
	// Leader, when not nil, decides which process of a fleet makes a day's
	// reports. Nil means this process always does.
	Leader DayLeader
	// Workers is the number of reports delivered at once; zero means
	// DefaultOutboxWorkers. Each holds at most one report body in memory.
	Workers int
	// RetryWindow is how long after its first attempt a report is tried;
	// zero means DefaultRetryWindow.
	RetryWindow time.Duration
	// StartWindow is the window after midnight UTC in which the first
	// attempt of a report is put at random; zero means
	// DefaultStartWindow, a negative value no delay.
	StartWindow time.Duration
	// Keep is how long the state of a finished report and the marker of
	// an enqueued day stay in the Store; zero means DefaultOutboxKeep.
	Keep time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wait is how Run waits: it returns after d, or with ctx's error when
	// ctx ends first. Nil means a timer.
	Wait func(ctx context.Context, d time.Duration) error
	// Logger receives a line per failed attempt and per report given up;
	// nil means slog.Default().
	Logger *slog.Logger

	once sync.Once
	mu   sync.Mutex          // serializes Enqueue and pruning
	busy map[string]struct{} // state keys being delivered; guarded by busyMu
	// busyMu guards busy.
	busyMu sync.Mutex
}

func (o *Outbox) init() {
	o.once.Do(func() { o.busy = make(map[string]struct{}) })
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

func (o *Outbox) log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o *Outbox) window() time.Duration {
	if o.RetryWindow > 0 {
		return o.RetryWindow
	}
	return DefaultRetryWindow
}

func (o *Outbox) startWindow() time.Duration {
	switch {
	case o.StartWindow < 0:
		return 0
	case o.StartWindow == 0:
		return DefaultStartWindow
	}
	return o.StartWindow
}

func (o *Outbox) keep() time.Duration {
	if o.Keep > 0 {
		return o.Keep
	}
	return DefaultOutboxKeep
}

// backoff is the wait after the n-th failed attempt (n >= 1).
func (o *Outbox) backoff(n int) time.Duration {
	w := o.Sender.Backoff
	if w <= 0 {
		w = DefaultBackoff
	}
	for ; n > 1 && w < maxBackoff; n-- {
		w *= 2
	}
	return min(w, maxBackoff)
}

// The keys of the Store: state and body of a report by the SHA-256 of its
// report-id (ids may be 500 bytes of anything a msg-id allows), and a
// marker per enqueued day.
const (
	statePrefix = "s-"
	bodyPrefix  = "b-"
	dayPrefix   = "d-"
)

func entryKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

func dayKey(day int64) string { return dayPrefix + dayStart(day).Format(time.DateOnly) }

func (o *Outbox) check() error {
	if o.Store == nil || o.Sender == nil {
		return errors.New("tlsrpt: Outbox.Store and Outbox.Sender are required")
	}
	return nil
}

// Enqueue stores r for delivery to the destinations of its policy
// domain's TLS-RPT record, looked up at the first attempt. A report whose
// report-id is already in the outbox is left as it is: Enqueue is
// idempotent, as report-ids are stable (see Collector.Reports). r must be
// valid (see Validate) and of one policy domain.
func (o *Outbox) Enqueue(ctx context.Context, r *Report) error {
	o.init()
	if err := o.check(); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	meta, err := metaOf(r)
	if err != nil {
		return err
	}
	if !isHeaderToken(meta.ID) {
		return fmt.Errorf("%w: report-id %s cannot be written in a Subject header", ErrInvalidReport, escape.Quote(meta.ID))
	}
	body, err := o.Sender.gzipReport(r)
	if err != nil {
		return err
	}
	key := entryKey(meta.ID)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.Store.Get(ctx, statePrefix+key); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotInOutbox) {
		return err
	}
	now := o.now()
	day := dayNumber(meta.Begin)
	start := dayStart(day + 1)
	if w := o.startWindow(); w > 0 {
		start = start.Add(time.Duration(mrand.Int64N(int64(w))))
	}
	if start.Before(now) {
		start = now
	}
	sum := sha256.Sum256(body)
	st := &outboxState{
		Version: outboxVersion,
		OutboxEntry: OutboxEntry{
			ReportID: meta.ID, PolicyDomain: meta.Domain, Day: dayStart(day),
			Enqueued: now, Start: start, Size: len(body),
			Lookup: Delivery{URI: "_smtp._tls." + meta.Domain, State: DeliveryPending, NextAttempt: start},
		},
		Report:     meta,
		BodySHA256: hex.EncodeToString(sum[:]),
	}
	// The body first: a state is never without its body, and a body
	// without a state (a crash in between) is removed by the next prune.
	if err := o.Store.Put(ctx, bodyPrefix+key, body); err != nil {
		return fmt.Errorf("tlsrpt: storing report %s: %w", escape.Quote(meta.ID), err)
	}
	if err := o.putState(ctx, key, st); err != nil {
		return err
	}
	return nil
}

func (o *Outbox) putState(ctx context.Context, key string, st *outboxState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := o.Store.Put(ctx, statePrefix+key, data); err != nil {
		return fmt.Errorf("tlsrpt: storing the state of report %s: %w", escape.Quote(st.ReportID), err)
	}
	return nil
}

func (o *Outbox) getState(ctx context.Context, key string) (*outboxState, error) {
	data, err := o.Store.Get(ctx, statePrefix+key)
	if err != nil {
		return nil, err
	}
	st := new(outboxState)
	if err := json.Unmarshal(data, st); err != nil || st.Version != outboxVersion || entryKey(st.ReportID) != key {
		return nil, fmt.Errorf("tlsrpt: outbox state %s is damaged or of another version", key)
	}
	return st, nil
}

// Entries returns the states of the reports in the outbox, ordered by day
// and report-id. Entries that cannot be read are logged and left out.
func (o *Outbox) Entries(ctx context.Context) ([]OutboxEntry, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	keys, err := o.Store.Keys(ctx, statePrefix)
	if err != nil {
		return nil, err
	}
	var out []OutboxEntry
	for _, k := range keys {
		st, err := o.getState(ctx, k[len(statePrefix):])
		if err != nil {
			if errors.Is(err, ErrNotInOutbox) {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			o.log().Error("tlsrpt: unreadable outbox entry", "key", k, "err", err)
			continue
		}
		out = append(out, st.OutboxEntry)
	}
	slices.SortFunc(out, func(a, b OutboxEntry) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return cmpString(a.ReportID, b.ReportID)
	})
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// due returns when st has something to do next, or the zero time when it
// is finished.
func (st *outboxState) due() time.Time {
	if !st.Finished.IsZero() {
		return time.Time{}
	}
	if st.Lookup.State == DeliveryPending {
		return st.Lookup.NextAttempt
	}
	var next time.Time
	for _, d := range st.Deliveries {
		if d.State == DeliveryPending && (next.IsZero() || d.NextAttempt.Before(next)) {
			next = d.NextAttempt
		}
	}
	return next
}

// RunOnce does what is due: it makes and enqueues the reports of the
// finished days of the Collector (if set; see Outbox.Collector and
// Leader), delivers every report whose next attempt has come, with
// Workers at once, and prunes finished entries older than Keep. It
// returns when all that is done, with the time at which something is due
// next (the zero time if nothing is), and the errors met, joined: a failed
// delivery is not one (it is in the entry's state and the log), a failing
// Store or Collector is.
func (o *Outbox) RunOnce(ctx context.Context) (time.Time, error) {
	o.init()
	if err := o.check(); err != nil {
		return time.Time{}, err
	}
	var errs []error
	var next time.Time
	if o.Collector != nil {
		n, err := o.makeReports(ctx)
		errs = append(errs, err)
		next = n
	}
	n, err := o.deliverDue(ctx)
	errs = append(errs, err)
	if !n.IsZero() && (next.IsZero() || n.Before(next)) {
		next = n
	}
	errs = append(errs, o.prune(ctx))
	return next, errors.Join(errs...)
}

// Run calls RunOnce whenever something is due, waiting with Wait in
// between, until ctx ends; it returns ctx's error. Errors of RunOnce are
// logged and RunOnce is called again after a minute.
func (o *Outbox) Run(ctx context.Context) error {
	for {
		next, err := o.RunOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := time.Duration(0)
		if !next.IsZero() {
			wait = next.Sub(o.now())
		}
		if err != nil {
			o.log().Error("tlsrpt: outbox", "err", err)
			if wait <= 0 || wait > time.Minute {
				wait = time.Minute
			}
		}
		if next.IsZero() && err == nil {
			// Nothing is scheduled and no Collector: an Enqueue from
			// another goroutine is seen within the hour.
			wait = time.Hour
		}
		if wait <= 0 {
			continue
		}
		if err := o.wait(ctx, wait); err != nil {
			return err
		}
	}
}

func (o *Outbox) wait(ctx context.Context, d time.Duration) error {
	if o.Wait != nil {
		return o.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// makeReports makes and enqueues the reports of the finished days in the
// Collector's store, and returns when the next day's are due.
func (o *Outbox) makeReports(ctx context.Context) (time.Time, error) {
	c := o.Collector
	c.init()
	now := o.now()
	today := dayNumber(now)
	next := dayStart(today + 1).Add(ReportDelay)
	if err := c.Flush(ctx); err != nil {
		return next, err
	}
	days, err := c.store.Days(ctx)
	if err != nil {
		return next, fmt.Errorf("tlsrpt: listing the days of the result store: %w", err)
	}
	var errs []error
	for _, t := range days {
		d := dayNumber(t)
		if d >= today {
			continue
		}
		if ready := dayStart(d + 1).Add(ReportDelay); now.Before(ready) {
			next = ready
			continue
		}
		led, err := o.makeDay(ctx, d, now)
		if err != nil {
			errs = append(errs, err)
		}
		if !led {
			// Another process leads the day, or holds a lease that may
			// expire: look again soon, until its results are gone.
			if again := now.Add(ReportDelay); again.Before(next) {
				next = again
			}
		}
	}
	return next, errors.Join(errs...)
}

// makeDay makes and enqueues the reports of day d, then deletes its
// results. It reports false when another process leads the day.
func (o *Outbox) makeDay(ctx context.Context, d int64, now time.Time) (bool, error) {
	c := o.Collector
	day := dayStart(d)
	date := day.Format(time.DateOnly)
	if _, err := o.Store.Get(ctx, dayKey(d)); err == nil {
		// Enqueued before; a Delete that failed is tried again.
		return true, c.store.Delete(ctx, day)
	} else if !errors.Is(err, ErrNotInOutbox) {
		return true, err
	}
	if too := dayStart(d + 1).Add(o.keep()); !now.Before(too) {
		o.log().Warn("tlsrpt: giving up the reports of a day that ended more than Outbox.Keep ago", "day", date)
		return true, c.store.Delete(ctx, day)
	}
	if o.Leader != nil {
		lead, err := o.Leader.Lead(ctx, day)
		if err != nil {
			return false, fmt.Errorf("tlsrpt: electing the leader of %s: %w", date, err)
		}
		if !lead {
			return false, nil
		}
	}
	reports, err := c.Reports(ctx, day)
	if err != nil {
		return true, err
	}
	for _, r := range reports {
		if err := o.Enqueue(ctx, r); err != nil {
			return true, fmt.Errorf("tlsrpt: enqueueing the reports of %s: %w", date, err)
		}
	}
	if err := o.Store.Put(ctx, dayKey(d), []byte(now.Format(time.RFC3339)+"\n")); err != nil {
		return true, err
	}
	if o.Leader != nil {
		if err := o.Leader.Done(ctx, day); err != nil {
			return true, fmt.Errorf("tlsrpt: recording %s as enqueued: %w", date, err)
		}
	}
	o.log().Info("tlsrpt: reports enqueued", "day", date, "reports", len(reports))
	return true, c.store.Delete(ctx, day)
}

// deliverDue delivers the entries whose next attempt has come, and
// returns when the first of the others is due.
func (o *Outbox) deliverDue(ctx context.Context) (time.Time, error) {
	keys, err := o.Store.Keys(ctx, statePrefix)
	if err != nil {
		return time.Time{}, err
	}
	now := o.now()
	var next time.Time
	later := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	var due []string
	for _, k := range keys {
		key := k[len(statePrefix):]
		st, err := o.getState(ctx, key)
		if err != nil {
			if ctx.Err() != nil {
				return next, ctx.Err()
			}
			if !errors.Is(err, ErrNotInOutbox) {
				o.log().Error("tlsrpt: unreadable outbox entry", "key", k, "err", err)
			}
			continue
		}
		t := st.due()
		if t.IsZero() {
			continue
		}
		if t.After(now) {
			later(t)
			continue
		}
		due = append(due, key)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = DefaultOutboxWorkers
	}
	work := make(chan string)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(workers, len(due)) {
		wg.Go(func() {
			for key := range work {
				t, err := o.deliverEntry(ctx, key)
				mu.Lock()
				later(t)
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	for _, key := range due {
		if ctx.Err() != nil {
			break
		}
		work <- key
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return next, errors.Join(errs...)
}

// claim marks the entry of key as being delivered by this goroutine,
// reporting false if another has it.
func (o *Outbox) claim(key string) bool {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	if _, ok := o.busy[key]; ok {
		return false
	}
	o.busy[key] = struct{}{}
	return true
}

func (o *Outbox) release(key string) {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	delete(o.busy, key)
}

// deliverEntry does what is due for one report: the lookup of its record,
// then each due delivery, storing the state after each step. It returns
// when the entry is due next.
func (o *Outbox) deliverEntry(ctx context.Context, key string) (time.Time, error) {
	if !o.claim(key) {
		return time.Time{}, nil
	}
	defer o.release(key)
	st, err := o.getState(ctx, key) // again: another RunOnce may have moved it on
	if err != nil {
		if errors.Is(err, ErrNotInOutbox) {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	deadline := st.Start.Add(o.window())
	if st.Lookup.State == DeliveryPending {
		if o.now().Before(st.Lookup.NextAttempt) {
			return st.due(), nil
		}
		o.lookup(ctx, st, deadline)
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		// A record found is stored with the first attempt's outcome, just
		// below: were the process to die before, the lookup is done again.
		if st.Lookup.State != DeliveryDone || len(st.Deliveries) == 0 {
			if err := o.finishOrSave(ctx, key, st); err != nil {
				return time.Time{}, err
			}
		}
	}
	if st.Lookup.State != DeliveryDone || !st.Finished.IsZero() || o.now().Before(st.due()) {
		return st.due(), nil
	}
	body, err := o.Store.Get(ctx, bodyPrefix+key)
	if err == nil {
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != st.BodySHA256 {
			err = errors.New("checksum mismatch")
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		// No retry can bring back a report whose body is gone or damaged.
		for i := range st.Deliveries {
			if st.Deliveries[i].State == DeliveryPending {
				o.giveUp(st, &st.Deliveries[i], fmt.Sprintf("the stored report is unreadable: %v", err))
			}
		}
		return time.Time{}, o.finishOrSave(ctx, key, st)
	}
	for i := range st.Deliveries {
		d := &st.Deliveries[i]
		now := o.now()
		if d.State != DeliveryPending || now.Before(d.NextAttempt) {
			continue
		}
		if !now.Before(deadline) {
			o.giveUp(st, d, "the retry window ended: "+d.LastError)
		} else if !o.attempt(ctx, st, d, body, deadline) {
			return time.Time{}, ctx.Err()
		}
		if err := o.finishOrSave(ctx, key, st); err != nil {
			return time.Time{}, err
		}
	}
	return st.due(), nil
}

// lookup looks up the record of st's policy domain and sets st's
// deliveries from it.
func (o *Outbox) lookup(ctx context.Context, st *outboxState, deadline time.Time) {
	l := &st.Lookup
	now := o.now()
	if !now.Before(deadline) {
		o.giveUp(st, l, "the retry window ended: "+l.LastError)
		return
	}
	rec, err := LookupRecord(ctx, o.Resolver, st.PolicyDomain)
	if ctx.Err() != nil {
		return
	}
	l.Attempts++
	l.LastAttempt = now
	switch {
	case errors.Is(err, ErrDNSTemporary):
		o.retryLater(st, l, err, now, deadline)
		return
	case errors.Is(err, ErrNoRecord):
		// The domain takes no reports: nothing is lost.
		l.State, l.LastError, l.NextAttempt = DeliveryGivenUp, err.Error(), time.Time{}
		o.log().Info("tlsrpt: no TLS-RPT record; report not sent", "report-id", escape.Quote(st.ReportID))
		return
	case err != nil:
		o.giveUp(st, l, err.Error())
		return
	}
	l.State, l.LastError, l.NextAttempt = DeliveryDone, "", time.Time{}
	for _, u := range rec.Destinations() {
		if len(st.Deliveries) == maxDestinations {
			o.log().Warn("tlsrpt: skipping rua destinations past the limit",
				"report-id", escape.Quote(st.ReportID), "rua", escape.Quote(u.Redacted()), "limit", maxDestinations)
			break
		}
		st.Deliveries = append(st.Deliveries, Delivery{URI: u.String(), State: DeliveryPending, NextAttempt: now})
	}
	if len(st.Deliveries) == 0 {
		o.log().Info("tlsrpt: no mailto: or https: rua destination; report not sent", "report-id", escape.Quote(st.ReportID))
	}
}

// attempt makes one attempt of delivery d and records its outcome in d.
// It returns false, recording nothing, when it failed because ctx ended.
func (o *Outbox) attempt(ctx context.Context, st *outboxState, d *Delivery, body []byte, deadline time.Time) bool {
	now := o.now()
	u, err := url.Parse(d.URI)
	if err == nil {
		if u.Scheme == "https" {
			err = o.Sender.post(ctx, u, body)
		} else {
			err = o.Sender.mail(ctx, &st.Report, u, body)
		}
	} else {
		err = &finalError{err}
	}
	if err != nil && ctx.Err() != nil {
		return false
	}
	d.Attempts++
	d.LastAttempt = now
	switch {
	case err == nil:
		d.State, d.LastError, d.NextAttempt = DeliveryDone, "", time.Time{}
	case final(err):
		o.giveUp(st, d, err.Error())
	default:
		o.retryLater(st, d, err, now, deadline)
	}
	return true
}

// retryLater schedules d again after a failure, or gives it up when the
// next attempt would fall past deadline.
func (o *Outbox) retryLater(st *outboxState, d *Delivery, err error, now, deadline time.Time) {
	d.LastError = err.Error()
	next := now.Add(o.backoff(d.Attempts))
	if !next.Before(deadline) {
		o.giveUp(st, d, "the retry window ends before the next attempt: "+d.LastError)
		return
	}
	d.NextAttempt = next
	o.log().Warn("tlsrpt: report delivery failed; trying again", "report-id", escape.Quote(st.ReportID),
		"to", escape.Quote(d.URI), "attempt", d.Attempts, "next", next, "err", escape.Quote(d.LastError))
}

func (o *Outbox) giveUp(st *outboxState, d *Delivery, why string) {
	d.State, d.LastError, d.NextAttempt = DeliveryGivenUp, why, time.Time{}
	o.log().Warn("tlsrpt: giving up a report delivery", "report-id", escape.Quote(st.ReportID),
		"to", escape.Quote(d.URI), "attempts", d.Attempts, "err", escape.Quote(why))
}

// finishOrSave stores st, marking it finished and deleting its body when
// nothing is pending.
func (o *Outbox) finishOrSave(ctx context.Context, key string, st *outboxState) error {
	pending := st.Lookup.State == DeliveryPending
	for _, d := range st.Deliveries {
		pending = pending || d.State == DeliveryPending
	}
	if !pending && st.Finished.IsZero() {
		st.Finished = o.now()
	}
	if err := o.putState(ctx, key, st); err != nil {
		return err
	}
	if !st.Finished.IsZero() {
		return o.Store.Delete(ctx, bodyPrefix+key)
	}
	return nil
}

// prune deletes the states of reports finished more than Keep ago, day
// markers older than Keep, and bodies without a state.
func (o *Outbox) prune(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	keys, err := o.Store.Keys(ctx, "")
	if err != nil {
		return err
	}
	states := make(map[string]bool)
	for _, k := range keys {
		if len(k) > len(statePrefix) && k[:len(statePrefix)] == statePrefix {
			states[k[len(statePrefix):]] = true
		}
	}
	var errs []error
	for _, k := range keys {
		switch {
		case len(k) > 2 && k[:2] == statePrefix:
			st, err := o.getState(ctx, k[2:])
			if err == nil && !st.Finished.IsZero() && now.Sub(st.Finished) > o.keep() {
				errs = append(errs, o.Store.Delete(ctx, k))
			}
		case len(k) > 2 && k[:2] == bodyPrefix:
			if !states[k[2:]] {
				errs = append(errs, o.Store.Delete(ctx, k))
			}
		case len(k) > 2 && k[:2] == dayPrefix:
			day, err := time.Parse(time.DateOnly, k[2:])
			if err == nil && now.Sub(day) > o.keep() {
				errs = append(errs, o.Store.Delete(ctx, k))
			}
		}
	}
	return errors.Join(errs...)
}
