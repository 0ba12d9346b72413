package policycache

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// ErrClosed is returned by Lookup once Close has been called.
var ErrClosed = errors.New("policycache: cache closed")

// Defaults of Config.
const (
	// DefaultTimeout bounds one discovery: the TXT lookup and the policy
	// fetch together. RFC 8461 §3.3 suggests one minute for the fetch.
	DefaultTimeout = time.Minute
	// DefaultNegativeTTL is how long the absence of an MTA-STS record is
	// remembered when DNS gives no shorter negative TTL.
	DefaultNegativeTTL = 5 * time.Minute
	// DefaultFetchBackoff is the pause after a failed fetch before the
	// policy of the same id is fetched again: RFC 8461 §3.3 suggests
	// "five minutes or longer per version ID".
	DefaultFetchBackoff = 5 * time.Minute
	// DefaultRefreshInterval is how often a cached policy is fetched again
	// in the background: RFC 8461 §3.3 suggests once per day.
	DefaultRefreshInterval = 24 * time.Hour
)

// Fixed timings that need no knob.
const (
	// minTTL is the shortest time an answer is remembered, so that a zero
	// TTL cannot turn a flood of deliveries into a flood of queries.
	minTTL = time.Second
	// plainResolverTTL is how long TXT answers are kept when the Resolver
	// does not report TTLs (*net.Resolver, for one).
	plainResolverTTL = time.Minute
	// dnsRetry is how long a failed TXT lookup (SERVFAIL, timeout) is
	// remembered, at most NegativeTTL.
	dnsRetry = 30 * time.Second
	// maxRefreshing bounds the background refreshes running at once.
	maxRefreshing = 8
	// clockTick is how often the coarse clock of the hot path is advanced,
	// and clockMargin how much earlier than due an entry is checked again
	// when that clock is used, so that its lag never lets an entry be used
	// after its TTL or max_age.
	clockTick   = 100 * time.Millisecond
	clockMargin = time.Second
)

// Config configures a Cache. The zero value is ready to use: the system's
// resolvers from /etc/resolv.conf, the default HTTP transport, a
// MemoryStore, time.Now, slog.Default and the Default durations.
type Config struct {
	// Resolver looks up the _mta-sts TXT records. Nil means a DNSResolver
	// reading /etc/resolv.conf. A resolver that is also a TTLResolver (as
	// DNSResolver is) has its answers kept for their DNS TTL (RFC 8461
	// §5.1 checks the id "at least once per TTL"); answers of other
	// resolvers, such as *net.Resolver, are kept for one minute.
	Resolver mtasts.Resolver
	// HTTPClient fetches policies (see mtasts.Fetch; redirects are never
	// followed). Nil means a client with http.DefaultTransport. Its
	// transport must verify certificates and must not cache responses
	// (RFC 8461 §3.3).
	HTTPClient *http.Client
	// Store keeps fetched policies beyond the life of the process. Nil
	// means none: the Cache keeps the valid policies of the domains it
	// evicts past MaxMemory itself, in a compact form (canonical text, id
	// and times: about 250 bytes each) that the next Lookup of the domain
	// parses again.
	Store Store
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives alerts (failed refreshes of a cached policy, RFC 8461
	// §3.3) and warnings (failed fetches, unreadable stored entries). Nil
	// means slog.Default().
	Logger *slog.Logger

	// Timeout bounds one discovery (TXT lookup plus fetch); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// NegativeTTL is the longest that the absence of an MTA-STS record is
	// remembered; the DNS negative TTL (RFC 2308) is used when shorter.
	// Zero means DefaultNegativeTTL.
	NegativeTTL time.Duration
	// FetchBackoff is how long after a failed fetch the policy of the same
	// id is not fetched again (RFC 8461 §3.3); zero means
	// DefaultFetchBackoff.
	FetchBackoff time.Duration
	// RefreshInterval is how long after its fetch a cached policy is
	// fetched again in the background, or half its max_age if that is
	// shorter, less a random tenth so that refreshes spread out. Zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// DisableRefresh turns the background refresh off: policies are then
	// fetched only when a Lookup finds a new id or an expired policy.
	DisableRefresh bool

	// MaxMemory bounds the bytes the cache holds in memory for its policy
	// domains (policies, TXT answers, failures), as estimated from their
	// text plus a fixed overhead per domain. Past it, the least recently
	// used domains are forgotten; their valid policies stay in the Store
	// and are read from it again by the next Lookup. Zero means
	// DefaultMaxMemory; the Store's own memory is not included.
	MaxMemory int64
	// MaxDiscoveries bounds the discoveries (TXT lookup and fetch) that
	// Lookups run at once; more wait their turn in a queue. Zero means
	// DefaultMaxDiscoveries. Background refreshes have their own 8 slots.
	MaxDiscoveries int
}

// Cache is the sender's MTA-STS resolver: Lookup says which policy to
// apply to a delivery, fetching and caching policies as RFC 8461 §3 and
// §5.1 require. See the package documentation for the rules. A Cache is
// safe for concurrent use. Create one with New and stop it with Close.
type Cache struct {
	resolver    mtasts.Resolver
	ttlResolver TTLResolver // resolver, when it reports TTLs
	client      *http.Client
	store       Store
	cold        *coldStore // with no Store: the evicted policies
	now         func() time.Time
	log         *slog.Logger

	timeout         time.Duration
	negativeTTL     time.Duration
	fetchBackoff    time.Duration
	refreshInterval time.Duration

	domains sync.Map // policy domain → *domainState
	closed  atomic.Bool
	mem     memory  // bytes held, and eviction (memory.go)
	limit   limiter // discoveries running and queued (limit.go)

	// With the real clock, Lookup hits read the time from coarse (Unix
	// nanoseconds, advanced every clockTick by the loop) instead of calling
	// time.Now, whose cost is most of a hit and which scales badly on some
	// virtual machines. With Config.Now, hits call it.
	useCoarse bool
	coarse    atomic.Int64

	mu         sync.Mutex // serialises starting goroutines with Close
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	refreshing chan struct{} // semaphore of background refreshes
}

// A TTLResolver is a Resolver that also says how long its answers may be
// kept: the TTL of a TXT answer, or for "not found" the negative-caching
// TTL of RFC 2308 §5. Config.Resolver is used through it when it
// implements it; DNSResolver does.
type TTLResolver interface {
	mtasts.Resolver
	// LookupTXTTTL is LookupTXT that also returns how long the answer
	// may be cached.
	LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error)
}

// domainState is the cache's knowledge of one policy domain.
type domainState struct {
	cur  atomic.Pointer[entry] // nil until the first discovery ends
	used atomic.Int64          // hitNow of the last Lookup, for eviction

	mu        sync.Mutex
	call      *flight   // the discovery in progress, if any
	dead      bool      // removed from Cache.domains
	recheckAt time.Time // no Recheck starts a discovery before (recheck.go)
}

// flight is one discovery in progress, shared by every Lookup of the
// domain that needs it.
type flight struct {
	done chan struct{}
	res  Result // valid after done is closed
	err  error

	waiters int // Lookups waiting for it (guarded by the domainState's mu)
	// While the discovery waits for a slot (guarded by Cache.limit.mu):
	// its place in the queue and its domain.
	queued *list.Element
	st     *domainState
	d      string
}

// New returns a Cache configured by cfg and starts its background refresh
// loop; with a Store that is a StoreLister, it also reads the stored
// policies in the background and schedules their refresh. It fails when a
// duration is negative or when no Resolver is given
// and the system's resolv.conf names no usable server.
func New(cfg Config) (*Cache, error) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"Timeout", cfg.Timeout}, {"NegativeTTL", cfg.NegativeTTL},
		{"FetchBackoff", cfg.FetchBackoff}, {"RefreshInterval", cfg.RefreshInterval},
	} {
		if f.d < 0 {
			return nil, fmt.Errorf("policycache: negative %s %v", f.name, f.d)
		}
	}
	if cfg.MaxMemory < 0 || cfg.MaxDiscoveries < 0 {
		return nil, fmt.Errorf("policycache: negative MaxMemory %d or MaxDiscoveries %d", cfg.MaxMemory, cfg.MaxDiscoveries)
	}
	c := &Cache{
		resolver:        cfg.Resolver,
		client:          cfg.HTTPClient,
		store:           cfg.Store,
		now:             cfg.Now,
		log:             cfg.Logger,
		timeout:         orDefault(cfg.Timeout, DefaultTimeout),
		negativeTTL:     orDefault(cfg.NegativeTTL, DefaultNegativeTTL),
		fetchBackoff:    orDefault(cfg.FetchBackoff, DefaultFetchBackoff),
		refreshInterval: orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		refreshing:      make(chan struct{}, maxRefreshing),
	}
	c.mem.max = cmp.Or(cfg.MaxMemory, DefaultMaxMemory)
	c.mem.trigger.Store(c.mem.max)
	c.limit.max = cmp.Or(cfg.MaxDiscoveries, DefaultMaxDiscoveries)
	if c.resolver == nil {
		r := &DNSResolver{}
		if _, _, _, err := r.config(); err != nil {
			return nil, fmt.Errorf("policycache: no resolver: %w", err)
		}
		c.resolver = r
	}
	c.ttlResolver, _ = c.resolver.(TTLResolver)
	if c.store == nil {
		c.cold = new(coldStore)
	}
	if c.now == nil {
		c.now = time.Now
		c.useCoarse = true
		c.coarse.Store(time.Now().UnixNano())
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.openStore()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.loop(!cfg.DisableRefresh)
	if l, ok := cfg.Store.(StoreLister); ok {
		c.wg.Add(1)
		go c.preload(l)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Close stops the background refresh loop and any discovery in progress,
// and waits for them to end. Lookups waiting for a discovery, and every
// Lookup after Close, return ErrClosed. The Store is not closed.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed.Store(true)
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Lookup returns the MTA-STS policy to apply to a delivery to the policy
// domain domain (RFC 8461 §3.4: the domain of the recipient address, or of
// the smart host; never a parent domain), following RFC 8461 §5.1:
//
//   - A cached policy whose TXT record was checked less than the record's
//     TTL ago is returned at once, without any network traffic.
//   - Otherwise the TXT record is looked up. The same id confirms the cached
//     policy; a new id, or no valid cached policy, means fetching the policy.
//   - A cached, unexpired policy is kept when the TXT record is gone or
//     unusable, the lookup fails, or the new policy cannot be fetched or
//     does not parse (fail-closed, §3.3).
//   - With no valid policy cached, any failure means no policy (fail-open,
//     §3.3), and Result.Failure says what to report with TLS-RPT.
//
// Concurrent Lookups of one domain share one TXT lookup and one fetch.
// The discovery runs on its own, bounded by Config.Timeout, or waits for
// one of Config.MaxDiscoveries slots: when ctx ends first, Lookup applies
// the cached policy if one is still within its max_age (Fresh false, Err
// ctx's error) and returns ctx's error otherwise; a running discovery goes
// on, and a later Lookup uses its outcome.
//
// The domain may be given in U-labels, upper case or with a trailing dot;
// it is used in lower-case A-labels. An invalid domain gives an error
// matching ErrInvalidDomain. Lookup returns no other errors than that,
// ctx's error and ErrClosed: failures of discovery are part of the Result.
func (c *Cache) Lookup(ctx context.Context, domain string) (Result, error) {
	// The keys of c.domains are normal domains, so a domain found there
	// as given needs no normalising: delivering to a known domain, in
	// A-labels or not, neither converts nor allocates.
	d := domain
	v, known := c.domains.Load(d)
	if !known {
		var err error
		if d, err = normalDomain(domain); err != nil {
			return Result{}, err
		}
		v, known = c.domains.Load(d)
	}
	if c.closed.Load() {
		return Result{}, ErrClosed
	}
	if known {
		st := v.(*domainState)
		if e := st.cur.Load(); e != nil {
			if now := c.hitNow(); now < e.hitUntil {
				st.touch(now)
				return e.result, nil
			}
		}
	}
	return c.lookupSlow(ctx, d)
}

// hitNow is the time as Lookup hits see it, in Unix nanoseconds.
func (c *Cache) hitNow() int64 {
	if c.useCoarse {
		return c.coarse.Load()
	}
	return c.now().UnixNano()
}

// hitUntil is the hitNow value from which an entry due at checkAt is no
// longer returned by the hot path.
func (c *Cache) hitUntil(checkAt time.Time) int64 {
	if c.useCoarse {
		checkAt = checkAt.Add(-clockMargin)
	}
	return checkAt.UnixNano()
}

// lookupSlow is Lookup when the answer is not fresh in memory: it joins
// or starts the discovery for d and waits for it.
func (c *Cache) lookupSlow(ctx context.Context, d string) (Result, error) {
	return c.await(ctx, d, c.flightFor)
}

// errStateGone reports that a domainState was removed from the map while
// a Lookup held it; the Lookup starts over with a new one.
var errStateGone = errors.New("policycache: domain state removed")

// state returns the domainState of d, creating it if needed.
func (c *Cache) state(d string) *domainState {
	if v, ok := c.domains.Load(d); ok {
		return v.(*domainState)
	}
	v, _ := c.domains.LoadOrStore(d, new(domainState))
	return v.(*domainState)
}

// flightFor returns the discovery of d to wait for, starting one if none
// is running, or the current entry when that is fresh after all.
func (c *Cache) flightFor(st *domainState, d string) (call *flight, hit *entry, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead {
		return nil, nil, errStateGone
	}
	if e := st.cur.Load(); e != nil && c.now().Before(e.checkAt) {
		return nil, e, nil
	}
	if st.call == nil {
		call = &flight{done: make(chan struct{})}
		if !c.startDiscovery(st, d, call) {
			return nil, nil, ErrClosed
		}
		st.call = call
	}
	st.call.waiters++
	return st.call, nil, nil
}

// goroutineStarting accounts for a goroutine about to start, unless the
// cache is closed.
func (c *Cache) goroutineStarting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.wg.Add(1)
	return true
}

// run performs one discovery of d and hands its outcome to the waiters. A
// proactive run is a background refresh holding a slot of c.refreshing.
func (c *Cache) run(st *domainState, d string, call *flight, proactive bool) {
	defer c.wg.Done()
	if proactive {
		defer func() { <-c.refreshing }()
	}
	c.discoverFor(st, d, call, proactive)
}

// discoverFor performs one discovery of d and settles call with it.
func (c *Cache) discoverFor(st *domainState, d string, call *flight, proactive bool) {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	e, fetched := c.discover(ctx, d, st.cur.Load(), proactive)
	c.settle(ctx, st, call, e, fetched)
}

// settle makes e (nil when the cache was closed) the entry of st and
// hands it to the Lookups waiting for call, after an eviction pass if the
// cache holds more than MaxMemory now.
func (c *Cache) settle(ctx context.Context, st *domainState, call *flight, e *entry, fetched bool) {
	over := false
	st.mu.Lock()
	if e != nil {
		e.hitUntil = c.hitUntil(e.checkAt)
		over = c.account(st.cur.Load(), e)
		st.cur.Store(e)
		st.touch(c.hitNow())
	}
	st.call = nil
	st.mu.Unlock()
	if over {
		c.evict(ctx)
	}

	if e == nil {
		call.err = ErrClosed
	} else {
		call.res = e.result
		call.res.FromCache = !fetched
	}
	close(call.done)
}
