package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// DefaultMaxFailureDetails is the number of distinct failure details a
// Collector keeps per policy and day when MaxFailureDetails is zero.
const DefaultMaxFailureDetails = 1000

// ErrDayNotOver is returned by Collector.Reports for a UTC day that has not
// ended yet: a report covers a whole day (RFC 8460 §4.1).
var ErrDayNotOver = errors.New("tlsrpt: the day is not over yet")

// A Collector counts the outcomes of a sending MTA's SMTP sessions and turns
// them into aggregate reports, one per policy domain and UTC day
// (RFC 8460 §4.1, §4.4).
//
// The MTA records each session once, under the policy it applied:
//
//	pc := c.Counter(p) // once per policy; keep pc with the cached policy
//	pc.Success()      // or pc.Failure(detail)
//
// Counts live in memory, aggregated per UTC day, policy and failure
// detail, until Flush adds them to the Store; Reports reads the Store. A
// restart loses only what was recorded since the last successful Flush, so
// call Flush every few minutes and before exiting.
//
// Set the exported fields before first use and do not change them after.
// A Collector is safe for concurrent use by any number of goroutines.
type Collector struct {
	// OrganizationName is the organization-name of the reports
	// (RFC 8460 §4.4): the sending organization. Required by Reports.
	OrganizationName string
	// ContactInfo is the contact-info of the reports (RFC 8460 §4.4), for
	// example "mailto:tlsrpt@example.com" or an address. Required by
	// Reports.
	ContactInfo string
	// Submitter is the domain of the organization submitting the reports,
	// the right-hand side of report ids. Empty means the domain of
	// ContactInfo.
	Submitter string
	// Store keeps the aggregated counts. Nil means a MemoryStore of the
	// Collector's own. A Store shared by several Collectors (a fleet of
	// MTAs) adds up their counts; see ResultStore.
	Store ResultStore
	// MaxFailureDetails bounds the distinct failure details kept per
	// policy and UTC day; zero means DefaultMaxFailureDetails. Failures
	// past the bound are folded into one detail per result type (see
	// ReasonDetailLimit) and counted by Overflow. Reports applies the same
	// bound to the details in the Store.
	MaxFailureDetails int
	// Now is the clock that assigns sessions to UTC days, read once for
	// every session (RFC 8460 §4.1). Nil means time.Now.
	Now func() time.Time
	// Logger receives warnings (failure details folded, policies without a
	// domain); nil means slog.Default().
	Logger *slog.Logger

	once       sync.Once
	now        func() time.Time
	store      ResultStore
	log        *slog.Logger
	maxDetails int
	stripes    int
	seed       maphash.Seed
	overflow   atomic.Int64

	// lookup maps a policy hash to the counters of policies with that
	// hash ([]*PolicyCounter, replaced, never modified): reads take no lock.
	lookup sync.Map

	mu       sync.Mutex // guards counters and spill; taken after PolicyCounter.mu
	counters map[*PolicyCounter]struct{}
	spill    map[int64]*aggregate // counts taken from counters, not yet stored

	flushMu sync.Mutex // serializes Flush
	pending *batch     // offered to a BatchStore, not acknowledged; guarded by flushMu
}

func (c *Collector) init() {
	c.once.Do(func() {
		c.now = c.Now
		if c.now == nil {
			c.now = time.Now
		}
		c.store = c.Store
		if c.store == nil {
			c.store = new(MemoryStore)
		}
		c.log = c.Logger
		if c.log == nil {
			c.log = slog.Default()
		}
		c.maxDetails = c.MaxFailureDetails
		if c.maxDetails <= 0 {
			c.maxDetails = DefaultMaxFailureDetails
		}
		// Two stripes per processor, a power of two, at most 16: enough
		// that concurrent recorders rarely share a cache line.
		c.stripes = 1
		for c.stripes < 2*runtime.GOMAXPROCS(0) && c.stripes < 16 {
			c.stripes *= 2
		}
		c.seed = maphash.MakeSeed()
		c.counters = make(map[*PolicyCounter]struct{})
	})
}

// today is the number of the current UTC day.
func (c *Collector) today() int64 {
	return dayNumber(c.now())
}

// daySlots is the number of UTC days a PolicyCounter counts at once, in a
// ring indexed by day number; a day's slot is reused eight days later.
const daySlots = 8

// stripe holds one share of the success counts of each day slot: 64 bytes,
// one cache line.
type stripe [daySlots]atomic.Int64

// A PolicyCounter records the sessions of one policy. Get it from
// Collector.Policy once per policy and keep it as long as the policy is in
// use; its methods are safe for concurrent use.
type PolicyCounter struct {
	c      *Collector
	policy AppliedPolicy // normal form; never modified
	hash   uint64
	mask   uint32
	counts []stripe
	// tags[i] is 1 + the day number counted in slot i, or 0 for none.
	// Written only with mu held.
	tags [daySlots]atomic.Int64

	mu      sync.Mutex
	fails   [daySlots]*dayFailures
	evicted bool // dropped by Flush after two idle days; re-added on use
}

// dayFailures holds one day's failures of one policy.
type dayFailures struct {
	total   int64
	details map[FailureDetail]*int64 // by detailKey; zero after a Flush
	folded  bool                     // the detail bound was reached
}

// Counter returns the counter of policy p (RFC 8460 §4.4 policy: its type,
// policy-string, policy-domain and mx-host), creating it on first use.
// Policies are the same when they are equal after host names (domain and
// mx-host) are lower-cased and stripped of a trailing dot.
//
// Counter does not allocate for a policy that already has a counter, so
// c.Counter(p).Success() per session is fine; keeping the counter is
// faster still.
func (c *Collector) Counter(p AppliedPolicy) *PolicyCounter {
	c.init()
	h := c.hashPolicy(&p)
	if pc := c.find(h, &p); pc != nil {
		return pc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pc := c.find(h, &p); pc != nil {
		return pc
	}
	pc := &PolicyCounter{
		c:      c,
		policy: normalPolicy(p),
		hash:   h,
		mask:   uint32(c.stripes - 1),
		counts: make([]stripe, c.stripes),
	}
	c.counters[pc] = struct{}{}
	c.addLookup(pc)
	return pc
}

func (c *Collector) find(h uint64, p *AppliedPolicy) *PolicyCounter {
	if v, ok := c.lookup.Load(h); ok {
		for _, pc := range v.([]*PolicyCounter) {
			if samePolicy(&pc.policy, p) {
				return pc
			}
		}
	}
	return nil
}

// addLookup makes pc the counter Policy returns, unless another counter
// of the same policy is. c.mu must be held.
func (c *Collector) addLookup(pc *PolicyCounter) {
	var list []*PolicyCounter
	if v, ok := c.lookup.Load(pc.hash); ok {
		list = v.([]*PolicyCounter)
	}
	for _, o := range list {
		if samePolicy(&o.policy, &pc.policy) {
			return
		}
	}
	c.lookup.Store(pc.hash, append(slices.Clip(list), pc))
}

// hashPolicy hashes the normal form of p without allocating.
func (c *Collector) hashPolicy(p *AppliedPolicy) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(string(p.Type))
	h.WriteByte(0)
	writeHost(&h, p.Domain)
	h.WriteByte(0)
	for _, s := range p.PolicyString {
		h.WriteString(s)
		h.WriteByte(1)
	}
	h.WriteByte(0)
	for _, s := range p.MXHost {
		writeHost(&h, s)
		h.WriteByte(1)
	}
	return h.Sum64()
}

// writeHost writes normalHost(s) to h.
func writeHost(h *maphash.Hash, s string) {
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if b := s[i]; 'A' <= b && b <= 'Z' {
			h.WriteString(s[:i])
			for ; i < len(s); i++ {
				b := s[i]
				if 'A' <= b && b <= 'Z' {
					b += 'a' - 'A'
				}
				h.WriteByte(b)
			}
			return
		}
	}
	h.WriteString(s)
}

// Success records a session under the policy that negotiated TLS and
// passed validation (RFC 8460 §4.4 total-successful-session-count). It
// does not allocate.
func (pc *PolicyCounter) Success() {
	day := pc.c.today()
	i := int(day & (daySlots - 1))
	if pc.tags[i].Load() != day+1 {
		pc.mu.Lock()
		pc.prepare(day)
		pc.mu.Unlock()
	}
	pc.counts[mrand.Uint32()&pc.mask][i].Add(1)
}

// Failure records a failed session under the policy (RFC 8460 §4.4
// total-failure-session-count) with what went wrong: d's result type,
// sending MTA IP, receiving MX host name, HELO and IP, failure reason code
// and additional information. d.FailedSessionCount is ignored: each call
// is one session. Sessions with equal details are counted together; it
// does not allocate for a detail already counted that day.
//
// RFC 8460 §4.4 asks for sending-mta-ip, receiving-mx-hostname and
// receiving-ip; leave fields that are unknown zero. Host names should be
// A-labels; they are compared without case and trailing dot.
func (pc *PolicyCounter) Failure(d FailureDetail) {
	c := pc.c
	day := c.today()
	k := detailKey(d)
	pc.mu.Lock()
	i := pc.prepare(day)
	f := pc.fails[i]
	if f == nil {
		f = &dayFailures{details: make(map[FailureDetail]*int64)}
		pc.fails[i] = f
	}
	f.total++
	first := false
	if n := f.details[k]; n != nil {
		*n++
	} else if len(f.details) < c.maxDetails {
		n = new(int64)
		*n = 1
		f.details[k] = n
	} else {
		o := overflowKey(k)
		if n = f.details[o]; n == nil {
			n = new(int64)
			f.details[o] = n
		}
		*n++
		c.overflow.Add(1)
		first = !f.folded
		f.folded = true
	}
	pc.mu.Unlock()
	if first {
		c.log.Warn("tlsrpt: too many distinct failure details; folding further ones",
			"policy-domain", pc.policy.Domain, "day", dayStart(day).Format(time.DateOnly), "limit", c.maxDetails)
	}
}

// prepare makes slot day%daySlots count day, moving what it held for
// another day to the collector's spill, and re-registers an evicted
// counter. pc.mu must be held.
func (pc *PolicyCounter) prepare(day int64) int {
	if pc.evicted {
		pc.evicted = false
		pc.c.register(pc)
	}
	i := int(day & (daySlots - 1))
	tag := pc.tags[i].Load()
	if tag == day+1 {
		return i
	}
	if tag != 0 {
		if r, ok := pc.take(i); ok {
			pc.c.addSpill(tag-1, &r)
		}
		if f := pc.fails[i]; f != nil {
			clear(f.details)
			f.folded = false
		}
	}
	pc.tags[i].Store(day + 1)
	return i
}

// take removes and returns the counts of slot i, reporting whether there
// were any. pc.mu must be held.
func (pc *PolicyCounter) take(i int) (PolicyResult, bool) {
	var ok int64
	for s := range pc.counts {
		ok += pc.counts[s][i].Swap(0)
	}
	r := PolicyResult{Policy: pc.policy}
	r.Summary.TotalSuccessfulSessionCount = ok
	if f := pc.fails[i]; f != nil && f.total > 0 {
		r.Summary.TotalFailureSessionCount = f.total
		f.total = 0
		for k, n := range f.details {
			if *n > 0 {
				k.FailedSessionCount = *n
				r.FailureDetails = append(r.FailureDetails, k)
				*n = 0 // keep the key: the day's bound counts it
			}
		}
	}
	return r, ok > 0 || r.Summary.TotalFailureSessionCount > 0
}

// drain moves the counts of every slot into byDay and evicts pc when it
// has counted nothing since the day before yesterday.
func (pc *PolicyCounter) drain(today int64, byDay map[int64]*aggregate) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	idle := true
	for i := range pc.tags {
		tag := pc.tags[i].Load()
		if tag == 0 {
			continue
		}
		day := tag - 1
		if r, ok := pc.take(i); ok {
			a := byDay[day]
			if a == nil {
				a = new(aggregate)
				byDay[day] = a
			}
			a.add(&r)
		}
		if day < today {
			pc.fails[i] = nil // a late failure for the day starts a new map
		}
		if day >= today-1 {
			idle = false
		}
	}
	if idle && !pc.evicted {
		for i := range pc.tags {
			pc.tags[i].Store(0)
		}
		pc.evicted = true
		pc.c.unregister(pc)
	}
}

func (c *Collector) register(pc *PolicyCounter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counters[pc] = struct{}{}
	c.addLookup(pc)
}

func (c *Collector) unregister(pc *PolicyCounter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.counters, pc)
	v, ok := c.lookup.Load(pc.hash)
	if !ok {
		return
	}
	list := slices.DeleteFunc(slices.Clone(v.([]*PolicyCounter)), func(o *PolicyCounter) bool { return o == pc })
	if len(list) == 0 {
		c.lookup.Delete(pc.hash)
	} else {
		c.lookup.Store(pc.hash, list)
	}
}

func (c *Collector) addSpill(day int64, r *PolicyResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spillLocked(day).add(r)
}

func (c *Collector) spillLocked(day int64) *aggregate {
	if c.spill == nil {
		c.spill = make(map[int64]*aggregate)
	}
	a := c.spill[day]
	if a == nil {
		a = new(aggregate)
		c.spill[day] = a
	}
	return a
}

// Overflow returns the number of failed sessions recorded since c was
// created whose details were folded because their policy had reached
// MaxFailureDetails distinct details that day. The sessions themselves are
// counted in full.
func (c *Collector) Overflow() int64 { return c.overflow.Load() }

// Flush adds the counts recorded since the last Flush to the Store, one
// Add per UTC day, oldest first. When the Store fails, the counts not
// stored are kept and offered again by the next Flush.
//
// With a Store that is a BatchStore, each day's counts go as one batch
// with an id, and a batch whose Add failed is offered again, the same
// counts with the same id, by the next Flush before anything else: a
// retried Flush never counts a session twice (see BatchStore).
//
// Flush also forgets policies that have recorded nothing for two days; a
// PolicyCounter kept by the caller goes on working.
func (c *Collector) Flush(ctx context.Context) error {
	c.init()
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	bs, batched := c.store.(BatchStore)
	if batched && c.pending != nil {
		if err := c.sendBatch(ctx, bs, c.pending); err != nil {
			return err
		}
	}
	today := c.today()

	c.mu.Lock()
	list := make([]*PolicyCounter, 0, len(c.counters))
	for pc := range c.counters {
		list = append(list, pc)
	}
	c.mu.Unlock()

	byDay := make(map[int64]*aggregate)
	for _, pc := range list {
		pc.drain(today, byDay)
	}
	c.mu.Lock()
	for d, a := range c.spill {
		if b := byDay[d]; b != nil {
			b.merge(a)
		} else {
			byDay[d] = a
		}
	}
	c.spill = nil
	c.mu.Unlock()

	days := make([]int64, 0, len(byDay))
	for d, a := range byDay {
		if !a.empty() {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	for n, d := range days {
		if err := ctx.Err(); err != nil {
			c.keep(days[n:], byDay)
			return err
		}
		if batched {
			id, err := newBatchID()
			if err != nil {
				c.keep(days[n:], byDay)
				return err
			}
			if err := c.sendBatch(ctx, bs, &batch{id: id, day: d, results: byDay[d].results()}); err != nil {
				c.keep(days[n+1:], byDay)
				return err
			}
			continue
		}
		if err := c.store.Add(ctx, dayStart(d), byDay[d].results()); err != nil {
			c.keep(days[n:], byDay)
			return fmt.Errorf("tlsrpt: storing the results of %s: %w", dayStart(d).Format(time.DateOnly), err)
		}
	}
	return nil
}

// keep returns counts that could not be stored to the spill.
func (c *Collector) keep(days []int64, byDay map[int64]*aggregate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range days {
		c.spillLocked(d).merge(byDay[d])
	}
}

// Reports flushes c and returns the reports of the UTC day holding day,
// one per policy domain, ordered by domain (RFC 8460 §4). Each covers the
// whole day, 00:00:00Z to 23:59:59Z (§4.1), lists every policy seen for
// its domain with the session counts of all the Collectors sharing the
// Store, and has the report-id
//
//	<yyyy-mm-dd>.<policy-domain>@<submitter>
//
// usable as the Report-ID of an email subject (§5.3). The id depends on
// nothing else, so every call, every restart and every Collector sharing
// the Store gives a day's report of a domain the same id: a receiver can
// recognise a report sent twice. A policy with more
// than MaxFailureDetails distinct details in the Store keeps its largest
// ones and the rest are folded as in Failure.
//
// It returns ErrDayNotOver for the current day or a later one. The results
// stay in the Store; delete them once the reports have been delivered.
func (c *Collector) Reports(ctx context.Context, day time.Time) ([]*Report, error) {
	c.init()
	d := dayNumber(day)
	if d >= dayNumber(c.now()) {
		return nil, fmt.Errorf("%w: %s", ErrDayNotOver, dayStart(d).Format(time.DateOnly))
	}
	if c.OrganizationName == "" {
		return nil, errors.New("tlsrpt: Collector.OrganizationName is empty (RFC 8460 §4.4 organization-name is required)")
	}
	if c.ContactInfo == "" {
		return nil, errors.New("tlsrpt: Collector.ContactInfo is empty (RFC 8460 §4.4 contact-info is required)")
	}
	submitter := c.Submitter
	if submitter == "" {
		submitter = contactDomain(c.ContactInfo)
	}
	if submitter == "" {
		return nil, fmt.Errorf("tlsrpt: no domain in Collector.ContactInfo %s; set Collector.Submitter", escape.Quote(c.ContactInfo))
	}
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	stored, err := c.store.Results(ctx, dayStart(d))
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: reading the results of %s: %w", dayStart(d).Format(time.DateOnly), err)
	}
	var sum aggregate
	for i := range stored {
		if err := checkCounts(&stored[i]); err != nil {
			return nil, err
		}
		sum.add(&stored[i])
	}
	var reports []*Report
	for _, r := range sum.results() {
		if r.Policy.Domain == "" {
			c.log.Warn("tlsrpt: results of a policy without a domain cannot be reported",
				"day", dayStart(d).Format(time.DateOnly), "policy-type", r.Policy.Type,
				"successes", r.Summary.TotalSuccessfulSessionCount, "failures", r.Summary.TotalFailureSessionCount)
			continue
		}
		if n := capDetails(&r, c.maxDetails); n > 0 {
			c.log.Warn("tlsrpt: too many distinct failure details in the store; folded the smallest",
				"policy-domain", r.Policy.Domain, "day", dayStart(d).Format(time.DateOnly), "sessions", n)
		}
		if len(reports) == 0 || reports[len(reports)-1].Policies[0].Policy.Domain != r.Policy.Domain {
			id := reportID(d, r.Policy.Domain, submitter)
			reports = append(reports, &Report{
				OrganizationName: c.OrganizationName,
				DateRange:        dateRange(d),
				ContactInfo:      c.ContactInfo,
				ReportID:         id,
			})
		}
		rep := reports[len(reports)-1]
		rep.Policies = append(rep.Policies, r)
	}
	return reports, nil
}

// reportID returns the report-id of the report of (day, domain,
// submitter): the same on every call, in every process and after every
// restart, so that a report made again after a crash or by a second member
// of a fleet carries the id of the first, and a receiver sees one report
// (RFC 8460 §4.4 report-id). It is also a valid RFC 5322 msg-id, as the
// Subject of a report email needs (§5.3).
func reportID(day int64, domain, submitter string) string {
	return dayStart(day).Format(time.DateOnly) + "." + domain + "@" + submitter
}

// contactDomain returns the domain of a contact-info that is an email
// address, a mailto: URI or an http(s) URL, or "".
func contactDomain(contact string) string {
	s := strings.TrimSpace(contact)
	if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		return hostName(u.Hostname())
	}
	s = strings.TrimPrefix(s, "mailto:")
	if i := strings.IndexAny(s, "?,"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ">")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return hostName(s[i+1:])
	}
	return ""
}

// hostName returns s in normal form if it is an LDH domain name, else "".
func hostName(s string) string {
	s = normalHost(s)
	if s == "" || len(s) > 253 {
		return ""
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return ""
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-') {
				return ""
			}
		}
	}
	return s
}
