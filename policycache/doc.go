// Package policycache is the sending side of MTA-STS (RFC 8461): a cache
// that an MTA asks, before every delivery, which policy applies to the
// recipient's domain, and that answers from memory almost always.
//
//	cache, err := policycache.New(policycache.Config{})
//	...
//	res, err := cache.Lookup(ctx, "example.com")
//	for _, mx := range mxHosts {
//		if !res.AllowsMX(mx) && res.Enforced() {
//			continue // RFC 8461 §5: not a valid MX; try the next one
//		}
//		// deliver, requiring STARTTLS and a valid certificate when
//		// res.Policy is not nil; record the session for TLS-RPT as
//		// described below
//	}
//
// # Recording sessions for TLS-RPT
//
// An MTA that reports with a tlsrpt.Collector counts every delivery
// attempt under the policy of its Result, so that all senders count alike:
//
//	pc := collector.Counter(res.AppliedPolicy)
//
// then, for each MX host:
//
//   - Not allowed (!res.AllowsMX(host)) under an enforced policy: the host
//     is skipped (RFC 8461 §4.1, §5). No session was attempted, so nothing
//     is recorded.
//   - Not allowed under a testing policy, delivered to anyway: one failure
//     with result type validation-failure and failure-reason-code
//     ReasonMXNotInPolicy (RFC 8460 §4.3.1 has no closer type).
//   - The TLS negotiation or certificate validation failed: one failure
//     with the result type and reason code of tlsrpt.Classify(err).
//   - Otherwise, when res.Failure is set (a policy could not be fetched or
//     did not parse, RFC 8461 §6, RFC 8460 §4.3.2.2): one failure with
//     that result type, instead of a success. Every such session counts,
//     not one per Lookup.
//   - Otherwise: pc.Success().
//
// A host that cannot be reached at all (no connection, no SMTP greeting)
// is no session either: RFC 8460 has no result type for it. A host that
// does not offer STARTTLS is a TLS failure (starttls-not-supported). Each
// session is recorded exactly once, by the first case that applies.
//
// # Discovery (RFC 8461 §5.1)
//
// For each policy domain the cache remembers the last policy it fetched
// (with the id of the TXT record it was fetched under) and the last TXT
// answer. Lookup answers from memory while that TXT answer is younger than
// its DNS TTL. Otherwise one discovery runs, shared by every concurrent
// Lookup of the domain:
//
//  1. The TXT records at _mta-sts.<domain> are looked up (CNAMEs followed,
//     §3.1), and mtasts.SelectRecord keeps the one MTA-STS record.
//  2. If its id is that of the cached policy, and the policy is younger than
//     its max_age, the cached policy is confirmed: nothing is fetched.
//  3. Otherwise the policy is fetched (mtasts.Fetch: HTTPS, certificate
//     valid for mta-sts.<domain>, status 200, text/plain, 64 KiB, no
//     redirects, no HTTP caching; §3.3) and parsed strictly. Only a policy
//     that parses replaces the cached one, and it is saved to the Store.
//
// When a step fails, the outcome depends on what is cached:
//
//   - A valid (younger than max_age) policy is cached: it stays in force
//     (fail-closed, §3.3). This holds when the TXT record is gone, ambiguous
//     or malformed (§3.1: that alone does not remove a cached policy), when
//     the DNS lookup fails, and when the policy of a new id cannot be
//     fetched or does not parse. Result.Fresh is then false, and a failed
//     fetch is reported (Result.Failure) unless the cached mode is none.
//   - Nothing valid is cached: the domain has no policy for this delivery
//     (fail-open, §3.3). A failed fetch after a TXT record was found is
//     reported as sts-webpki-invalid, sts-policy-invalid or
//     sts-policy-fetch-error (RFC 8460 §4.3.2.2) against policy type sts; no
//     record at all is simply no-policy-found, with nothing to report.
//
// A policy is never used after max_age (§3.2, §5.1); a policy with max_age
// 0 is applied to the Lookup that fetched it and not kept. A policy with
// mode none replaces the cached one like any other and removes protection
// (§5, §8.3): AllowsMX accepts every host, and the TLS-RPT policy type is
// no-policy-found.
//
// # Pacing
//
// Every answer is kept for a while, so that a flood of deliveries never
// becomes a flood of queries or fetches:
//
//   - TXT records: their DNS TTL (at least one second). Resolvers that
//     cannot report TTLs, such as *net.Resolver, get one minute.
//   - No MTA-STS record: the DNS negative TTL (RFC 2308), at most
//     Config.NegativeTTL (five minutes by default).
//   - A failed TXT lookup (SERVFAIL, timeout): 30 seconds.
//   - A failed fetch: the same id is not fetched again for
//     Config.FetchBackoff (five minutes: §3.3 asks for at most one attempt
//     per five minutes per policy id). The TXT record is still checked at
//     its TTL, so a new id is fetched at once.
//
// # Background refresh
//
// A loop started by New fetches every cached policy again before it
// expires (§3.3, §10): Config.RefreshInterval after its fetch (one day, the
// RFC's suggestion) or at half its max_age if that is sooner, less a random
// tenth so that refreshes spread out, at most eight at a time. A refresh
// fetches even when the id is unchanged, because only a fetch restarts
// max_age. A failed refresh never drops the cached policy; it is logged at
// level ERROR as an alert (unless the cached mode is none) and tried again
// after FetchBackoff. The loop also forgets domains that have no valid
// policy once their entry is due anyway, so memory holds only live
// policies and recent answers. Close stops the loop and any discovery in
// progress.
//
// # Stores
//
// A Store (the small get/put/delete interface of autocert's Cache) keeps
// fetched policies across restarts: a cache started on a DirStore uses
// what it finds there, after checking the TXT record as usual. Entries are
// versioned text with a SHA-256 checksum; an entry that is truncated,
// damaged or expired is a miss, logged at level WARN, and replaced by the
// next fetch. DirStore writes atomically (temporary file, fsync, rename,
// directory fsync), so a crash at any moment leaves the old entry or the
// new one. MTAs sharing a Store also share fetches: before fetching a new
// id, a cache looks for it in the Store.
//
// # Memory and concurrency bounds
//
// Memory is bounded by Config.MaxMemory (DefaultMaxMemory, 64 MiB): the
// cache estimates what each policy domain keeps alive (its policy's text,
// 16 bytes per line and mx pattern, the error it reports and about 1 KiB
// of bookkeeping) and, past the bound, forgets the least recently used
// domains until it is an eighth under it. A Lookup hit only stamps the
// domain's last use (an atomic store, at most once per clock tick), and the
// eviction pass runs in the discovery that crossed the bound, so hits stay
// lock-free. A valid policy leaves memory only once the Store holds it
// (written again first if its Put had failed): the next Lookup reads it
// back and applies it even when DNS and the policy host fail (fail-closed,
// §3.3). What eviction loses is the DNS answer's freshness (the TXT record
// is checked again), the pacing of a failed fetch, and the background
// refresh, which resumes once the domain is looked up again. A policy is
// held as one copy of its text: the Store's form of the entry, of which the
// policy's strings and the TLS-RPT policy-string lines are substrings, and
// which the default MemoryStore keeps without copying. MaxMemory does not
// cover the Store: a MemoryStore keeps that one copy of every policy it is
// given (at most 64 KiB each, usually a few hundred bytes), so a cache that
// must bound the process's memory whatever the domains it talks to uses a
// DirStore or a shared Store. Measured with 2 000 domains serving 64 KiB
// policies and MaxMemory a quarter of their text: a DirStore cache keeps
// MaxMemory, a MemoryStore one the text once plus the bound (before these
// bounds: 3.9 times the text with a MemoryStore, 2.8 with a DirStore).
//
// Discoveries are bounded by Config.MaxDiscoveries (DefaultMaxDiscoveries,
// 64) for Lookups, plus 8 background refreshes. A discovery runs in one
// goroutine and holds at most one socket at a time: a UDP socket per DNS
// query (a new one for each query, so that its source port is random, as
// RFC 5452 asks against forged answers; TCP only for truncated answers), or
// the HTTPS connection of the fetch (the HTTPClient's transport pools and
// reuses connections per policy host; distinct domains have distinct hosts,
// so each fetch usually needs its own; idle ones are bounded by the
// transport's MaxIdleConns and IdleConnTimeout). More discoveries wait in a
// first-come queue that costs no goroutine and no socket. A Lookup whose context
// ends while it waits applies its domain's cached policy if that is still
// within max_age (fail-closed), and otherwise returns the context's error:
// a queue filled by other domains must not remove a protection, so the
// caller decides (an MTA defers the delivery). A queued discovery that no
// Lookup waits for any more leaves the queue.
//
// # Decisions and deviations
//
//   - The background refresh runs daily or at half of max_age rather than
//     only shortly before expiry: §3.3 suggests daily, and a long margin
//     gives a broken policy host days, not minutes, to be fixed.
//   - A failed TXT lookup with nothing cached is not reported with TLS-RPT:
//     no result type of RFC 8460 describes it and whether the domain has a
//     policy is unknown. Result.Err carries the error. Likewise a TXT
//     record that vanished under a cached policy, and a failed background
//     refresh whose id is unchanged, are logged but not attached to
//     deliveries, which still apply a current policy.
//   - The cache discovers policies only for the domains it is asked about;
//     a Store cannot be listed, so policies from an earlier run are
//     refreshed once looked up again.
//   - Without Config.Now, Lookup hits read a clock the loop advances every
//     100 ms instead of calling time.Now (most of the cost of a hit, and
//     slow on some virtual machines); entries then leave memory one second
//     before their TTL or max_age ends, never after.
//   - A discovery runs on its own context, bounded by Config.Timeout and
//     Close, not by the context of the Lookup that started it: a caller
//     that gives up must not spoil the answer for the others waiting.
//   - Policies are parsed strictly (mtasts.ParsePolicy), not in the
//     diagnosing mode: a sender applies only what the RFC's grammar allows.
package policycache
