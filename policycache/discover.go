package policycache

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// entry is an immutable snapshot of what the cache knows about one policy
// domain, replaced as a whole after each discovery.
type entry struct {
	// result is what Lookup returns until checkAt, which the hot path
	// sees as hitUntil (see Cache.hitUntil). Its Policy, ID and Expires
	// are the cached policy (nil if none), the id it was fetched under
	// and when it expires.
	result   Result
	checkAt  time.Time
	hitUntil int64

	fetched   time.Time
	refreshAt time.Time // when the background loop fetches it again
	// text is the policy's stored form, holding the one copy of its
	// strings (see sharedPolicy); stored reports that the Store has it.
	text   string
	stored bool

	size int64 // footprint, set when the entry enters the cache

	// failed is the last failed fetch, if any (RFC 8461 §3.3: at most one
	// attempt per FetchBackoff per policy id).
	failed *fetchFailure
}

// fetchFailure is a failed fetch of a policy id: it is not tried again
// before retryAt.
type fetchFailure struct {
	id      string
	retryAt time.Time
	failure tlsrpt.ResultType
	err     error
}

// lastFailure is the last failed fetch of e, nil if none or e is nil.
func (e *entry) lastFailure() *fetchFailure {
	if e == nil {
		return nil
	}
	return e.failed
}

// validAt reports whether e holds a policy that has not expired at now
// (RFC 8461 §5.1: a policy is used while its time since fetch is within
// max_age).
func (e *entry) validAt(now time.Time) bool {
	return e != nil && e.result.Policy != nil && now.Before(e.result.Expires)
}

// discover runs RFC 8461 §5.1 for the policy domain d, given the previous
// entry (nil if none), and returns the new entry and whether a policy was
// fetched over HTTPS. A proactive discovery (the background refresh)
// fetches the policy even when the id is unchanged, to restart its
// max_age. The result is nil when the cache was closed meanwhile.
func (c *Cache) discover(ctx context.Context, d string, old *entry, proactive bool) (*entry, bool) {
	now := c.now()
	var cached *entry
	if old.validAt(now) {
		cached = old
	}
	// The Store is read when this process knows nothing about d (after a
	// restart), and when a new policy would be fetched: another MTA sharing
	// the Store may have fetched it already.
	var stored *entry
	storeRead := false
	readStore := func() *entry {
		if !storeRead {
			storeRead = true
			stored = c.load(ctx, d, now)
		}
		return stored
	}
	if old == nil {
		cached = readStore()
	}

	txts, ttl, err := c.lookupTXT(ctx, "_mta-sts."+d+".")
	if c.ctx.Err() != nil {
		return nil, false
	}
	var rec *mtasts.Record
	if err == nil {
		rec, err = mtasts.SelectRecord(txts)
	}
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound, errors.Is(err, mtasts.ErrNoRecord):
			// No MTA-STS record: no available policy (§3.1), which alone
			// does not remove a cached one.
			return c.noRecord(d, cached, old, now, c.negative(ttl), nil, err, proactive), false
		case errors.Is(err, mtasts.ErrMultipleRecords), errors.Is(err, mtasts.ErrInvalidRecord):
			return c.noRecord(d, cached, old, now, c.negative(ttl), err, err, proactive), false
		default:
			return c.dnsFailure(d, cached, old, now, err, proactive), false
		}
	}

	id := rec.ID
	if cached != nil && cached.result.ID == id && !proactive {
		return c.confirmed(cached, now, ttl), false
	}
	if f := old.lastFailure(); f != nil && f.id == id && now.Before(f.retryAt) {
		// Fetching this id failed moments ago: do not try again yet.
		return c.fetchFailed(d, id, cached, now, ttl, f.failure, f.err, f.retryAt), false
	}
	// A stored entry spares the fetch when it has the announced id and is
	// newer than ours (for a refresh: fetched recently by another MTA).
	usable := func(s *entry) bool {
		return s != nil && s.result.ID == id && (cached == nil || s.fetched.After(cached.fetched)) &&
			(!proactive || now.Before(s.refreshAt))
	}
	if s := readStore(); usable(s) {
		return c.confirmed(s, now, ttl), false
	}
	// Across a fleet: one MTA at a time fetches, the others find its
	// policy in the Store once they hold the lock (see FetchLocker).
	if fl, ok := c.store.(FetchLocker); ok {
		if unlock, locked := c.lockFetch(ctx, fl, d); locked {
			defer unlock()
			if s := c.load(ctx, d, now); usable(s) {
				return c.confirmed(s, now, ttl), false
			}
		}
	}

	p, err := mtasts.Fetch(ctx, c.client, d)
	if c.ctx.Err() != nil {
		return nil, false
	}
	if err != nil {
		switch {
		case cached == nil:
			c.log.Warn("MTA-STS policy fetch failed; no policy", "domain", d, "id", id, "err", err)
		case cached.result.ID == id:
			c.alert(cached, "MTA-STS policy refresh failed; keeping the cached policy", err)
		default:
			c.alert(cached, "MTA-STS policy fetch for a new id failed; keeping the cached policy", err)
		}
		return c.fetchFailed(d, id, cached, now, ttl, failureType(err), err, now.Add(c.fetchBackoff)), false
	}
	e := c.policyEntry(d, id, p, now, "")
	e.checkAt = minTime(now.Add(ttl), e.result.Expires)
	if c.cold == nil {
		e.stored = c.save(ctx, e)
	} // else the policy goes to the cold store if it is evicted
	return e, true
}

// maxNameLength is the longest domain name in DNS, with its trailing dot
// (RFC 1035 §2.3.4: 255 octets in wire format).
const maxNameLength = 254

// lookupTXT looks up the TXT records at name and says how long the answer
// may be kept (at least minTTL).
func (c *Cache) lookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	if len(name) > maxNameLength {
		// _mta-sts.<domain> of a policy domain longer than 244 bytes: no
		// such name can exist in DNS, so there is no record to look up.
		return nil, minTTL, &net.DNSError{Err: "name longer than 253 bytes", Name: name, IsNotFound: true}
	}
	var (
		txts []string
		ttl  = plainResolverTTL
		err  error
	)
	if c.ttlResolver != nil {
		txts, ttl, err = c.ttlResolver.LookupTXTTTL(ctx, name)
	} else {
		txts, err = c.resolver.LookupTXT(ctx, name)
		if err != nil {
			ttl = 0
		}
	}
	return txts, max(ttl, minTTL), err
}

// negative is how long the absence of a usable record is remembered: the
// DNS TTL of that answer, at most NegativeTTL.
func (c *Cache) negative(ttl time.Duration) time.Duration {
	if ttl <= minTTL {
		// No TTL from DNS (or a tiny one): take the configured time.
		return c.negativeTTL
	}
	return min(ttl, c.negativeTTL)
}

// noRecord is the outcome when DNS says there is no usable MTA-STS record:
// the cached policy stays in force (not fresh any more); with none cached
// the domain has no policy, which is nothing to report. problem is the
// error to show in Result.Err when there is no cached policy (nil when
// the domain simply has no record); cause is shown when there is one.
func (c *Cache) noRecord(d string, cached, old *entry, now time.Time, ttl time.Duration, problem, cause error, proactive bool) *entry {
	if cached != nil {
		if proactive {
			c.alert(cached, "MTA-STS TXT record not found during refresh; keeping the cached policy", cause)
		}
		return c.stale(cached, now, ttl, cause, proactive)
	}
	e := c.noPolicy(d, old, now.Add(ttl))
	e.result.Fresh = true
	e.result.Err = problem
	return e
}

// dnsFailure is the outcome when the TXT lookup failed: keep the cached
// policy; with none, no policy for a short while.
func (c *Cache) dnsFailure(d string, cached, old *entry, now time.Time, err error, proactive bool) *entry {
	retry := min(dnsRetry, c.negativeTTL)
	if cached != nil {
		if proactive {
			c.alert(cached, "MTA-STS TXT lookup failed during refresh; keeping the cached policy", err)
		} else {
			c.log.Warn("MTA-STS TXT lookup failed; keeping the cached policy", "domain", d, "id", cached.result.ID, "err", err)
		}
		return c.stale(cached, now, retry, err, proactive)
	}
	c.log.Warn("MTA-STS TXT lookup failed; no policy for now", "domain", d, "err", err)
	e := c.noPolicy(d, old, now.Add(retry))
	e.result.Err = err
	return e
}

// confirmed is the outcome when the TXT record carries the id of the
// cached policy: use it, fresh, until the record's TTL runs out.
func (c *Cache) confirmed(cached *entry, now time.Time, ttl time.Duration) *entry {
	e := *cached
	e.checkAt = minTime(now.Add(ttl), e.result.Expires)
	e.result.Fresh = true
	e.result.Failure = ""
	e.result.Err = nil
	return &e
}

// fetchFailed is the outcome when the policy of id could not be fetched.
// With a cached policy of another id, that policy stays in force and the
// failure is reported (unless its mode is none, RFC 8461 §6). With a
// cached policy of the same id (a background refresh failed) nothing
// changes for deliveries. With nothing cached: no policy, and the failure
// is reported against the announced policy. Neither the id nor a
// background refresh is tried again before retryAt.
func (c *Cache) fetchFailed(d, id string, cached *entry, now time.Time, ttl time.Duration, failure tlsrpt.ResultType, err error, retryAt time.Time) *entry {
	var e *entry
	switch {
	case cached != nil && cached.result.ID == id:
		e = c.confirmed(cached, now, ttl)
	case cached != nil:
		x := *cached
		e = &x
		e.checkAt = minTime(minTime(now.Add(ttl), retryAt), e.result.Expires)
		e.result.Fresh = false
		e.result.Err = err
		e.result.Failure = ""
		if cached.result.Policy.Mode != mtasts.ModeNone {
			e.result.Failure = failure
		}
	default:
		e = c.noPolicy(d, nil, minTime(now.Add(ttl), retryAt))
		e.result.AppliedPolicy.Type = tlsrpt.PolicySTS
		e.result.Failure = failure
		e.result.Err = err
	}
	if cached != nil && e.refreshAt.Before(retryAt) {
		e.refreshAt = retryAt
	}
	e.failed = &fetchFailure{id: id, retryAt: retryAt, failure: failure, err: err}
	return e
}

// stale keeps a cached policy in force after the TXT lookup failed or
// found no usable record, until now+retry (or its expiry). A background
// refresh that failed so is tried again after FetchBackoff.
func (c *Cache) stale(cached *entry, now time.Time, retry time.Duration, err error, proactive bool) *entry {
	e := *cached
	e.checkAt = minTime(now.Add(retry), e.result.Expires)
	e.result.Fresh = false
	e.result.Failure = ""
	e.result.Err = err
	if proactive {
		e.refreshAt = now.Add(c.fetchBackoff)
	}
	return &e
}

// noPolicy is an entry without policy, valid until checkAt, keeping the
// fetch-failure pacing of old.
func (c *Cache) noPolicy(d string, old *entry, checkAt time.Time) *entry {
	e := &entry{
		checkAt: checkAt,
		result: Result{
			Domain:        d,
			FromCache:     true,
			AppliedPolicy: tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: d},
		},
	}
	e.failed = old.lastFailure()
	return e
}

// policyEntry is a fresh entry for policy p of id, fetched at fetched,
// holding one copy of its text: stored, the text read from a Store, if it
// is the entry's stored form, or a new one. Its checkAt is left for the
// caller to set.
func (c *Cache) policyEntry(d, id string, p *mtasts.Policy, fetched time.Time, stored string) *entry {
	_, whole := c.store.(textStore)
	text, p, lines := sharedPolicy(&storedPolicy{Domain: d, ID: id, Fetched: fetched, Policy: p}, stored, whole)
	e := &entry{
		text:      text,
		fetched:   fetched,
		refreshAt: c.refreshTime(fetched, p.MaxAge),
	}
	e.result = Result{
		Domain:        d,
		Policy:        p,
		ID:            id,
		Expires:       fetched.Add(p.MaxAge),
		FromCache:     true,
		Fresh:         true,
		AppliedPolicy: reportPolicy(d, p, lines),
	}
	return e
}

// refreshTime is when the background loop fetches a policy again:
// RefreshInterval after its fetch, or half its max_age if sooner, less a
// random tenth of that. A policy with max_age 0 is never refreshed.
func (c *Cache) refreshTime(fetched time.Time, maxAge time.Duration) time.Time {
	after := min(c.refreshInterval, maxAge/2)
	if after <= 0 {
		return time.Time{}
	}
	jitter := time.Duration(rand.Int64N(int64(after)/10 + 1))
	return fetched.Add(after - jitter)
}

// reportPolicy is the TLS-RPT policy object (RFC 8460 §4.4) for policy p
// of domain d: type sts, one policy-string element per line of the
// policy's canonical form (lines), the mx patterns as mx-host. Mode none
// means no active policy (RFC 8461 §5): type no-policy-found.
func reportPolicy(d string, p *mtasts.Policy, lines []string) tlsrpt.AppliedPolicy {
	if p.Mode == mtasts.ModeNone {
		return tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: d}
	}
	return tlsrpt.AppliedPolicy{
		Type:         tlsrpt.PolicySTS,
		PolicyString: lines,
		Domain:       d,
		MXHost:       p.MX,
	}
}

// failureType maps a failed fetch to its TLS-RPT result type (RFC 8460
// §4.3.2.2): a certificate problem of the policy host is
// sts-webpki-invalid, a policy that does not parse sts-policy-invalid,
// anything else sts-policy-fetch-error.
func failureType(err error) tlsrpt.ResultType {
	var fe *mtasts.FetchError
	if errors.As(err, &fe) {
		switch fe.Reason {
		case mtasts.FetchWebPKI:
			return tlsrpt.ResultSTSWebPKIInvalid
		case mtasts.FetchPolicyInvalid:
			return tlsrpt.ResultSTSPolicyInvalid
		}
	}
	if errors.Is(err, mtasts.ErrInvalidPolicy) {
		return tlsrpt.ResultSTSPolicyInvalid
	}
	return tlsrpt.ResultSTSPolicyFetchError
}

// alert logs a failure to refresh a cached policy. RFC 8461 §3.3: MTAs
// SHOULD alert administrators when refresh fails, unless the cached mode
// is none.
func (c *Cache) alert(cached *entry, msg string, err error) {
	if cached.result.Policy.Mode == mtasts.ModeNone {
		return
	}
	c.log.Error(msg, "domain", cached.result.Domain, "id", cached.result.ID, "expires", cached.result.Expires, "err", err)
}

// load reads the stored entry of d, returning it when it holds a policy
// still valid at now. Unreadable entries are logged and ignored.
func (c *Cache) load(ctx context.Context, d string, now time.Time) *entry {
	if c.cold != nil {
		id, p, fetched, ok := c.cold.take(d, now)
		if !ok {
			return nil
		}
		return c.policyEntry(d, id, p, fetched, "") // not stored: taken
	}
	data, text, err := c.get(ctx, d)
	if errors.Is(err, ErrCacheMiss) {
		return nil
	}
	if err != nil {
		c.log.Warn("reading a stored MTA-STS policy failed; ignoring it", "domain", d, "err", err)
		return nil
	}
	e, err := c.storedEntry(d, data, text, now)
	if err != nil {
		c.log.Warn("stored MTA-STS policy is corrupt; ignoring it", "domain", d, "err", err)
	}
	return e
}

// storedEntry decodes the stored entry data of d (also as text, when the
// Store shares strings; see textStore), returning it when it holds a
// policy still valid at now, or an error when it is corrupt.
func (c *Cache) storedEntry(d string, data []byte, text string, now time.Time) (*entry, error) {
	s, err := decodeStored(data)
	if err == nil && s.Domain != d {
		err = errors.New("entry is for " + s.Domain)
	}
	if err != nil {
		return nil, err
	}
	e := c.policyEntry(d, s.ID, s.Policy, s.Fetched, text)
	if !e.validAt(now) {
		return nil, nil
	}
	e.stored = true
	return e, nil
}

// save writes a newly fetched policy to the Store and reports whether it
// did. A policy with max_age 0 is not to be kept: any stored one is
// deleted instead.
func (c *Cache) save(ctx context.Context, e *entry) bool {
	d := e.result.Domain
	if c.cold != nil {
		if e.result.Policy.MaxAge > 0 {
			c.cold.put(e)
		}
		return true
	}
	var err error
	if e.result.Policy.MaxAge == 0 {
		err = c.store.Delete(ctx, d)
	} else {
		err = c.putEntry(ctx, d, e.storedForm(), e.result.Expires)
	}
	if err != nil {
		c.log.Warn("storing an MTA-STS policy failed", "domain", d, "err", err)
		return false
	}
	return true
}

// storedForm is the stored form of e's policy (storedPolicy.encode): its
// text, when that is the whole stored form (see sharedPolicy).
func (e *entry) storedForm() string {
	if strings.HasPrefix(e.text, entryMagic) {
		return e.text
	}
	s := storedPolicy{Domain: e.result.Domain, ID: e.result.ID, Fetched: e.fetched, Policy: e.result.Policy}
	return string(s.encode())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
