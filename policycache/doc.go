// Package policycache is the sending side of MTA-STS (RFC 8461): a cache
// that an MTA asks, before every delivery, which policy applies to the
// recipient's domain, and that answers from memory almost always; and the
// per-delivery session API that applies the answer to the MX hosts and
// records every SMTP session for TLS-RPT (RFC 8460).
//
//	cache, err := policycache.New(policycache.Config{})
//	...
//	res, err := cache.Lookup(ctx, domain)
//	d := policycache.NewDelivery(res, collector, mtasts.VerifyOptions{})
//	for _, mx := range mxHosts { // in preference order
//		s := d.Session(mx)
//		if !s.Try() {
//			continue // §4.1: not a valid MX under an enforced policy
//		}
//		// connect and EHLO; STARTTLS with s.TLSConfig() when offered,
//		// else tlsErr = tlsrpt.ErrSTARTTLSNotSupported
//		if s.Record(conn, &state, tlsErr) {
//			// send the message in this session; done
//		}
//	}
//	// no MX took it: a temporary failure (§5); before bouncing, call
//	// cache.Recheck(ctx, domain) and try once more
//
// # Sessions
//
// A Delivery holds the rules of RFC 8461 §4 and §5 for one delivery
// attempt, so that the MTA's loop only connects, asks and obeys:
//
//   - Try: an MX host that an enforced policy does not allow is not tried
//     at all (§4.1, §5; like an unreachable host, and nothing is
//     recorded). Under mode testing it is tried, and reported.
//   - TLSConfig: enforce runs the §4.2 checks (PKIX chain, validity, a
//     DNS-ID matching the MX host) in the handshake, which fails on a bad
//     certificate; testing runs the same checks but lets the handshake
//     complete, so that the message is delivered and the failure
//     reported; mode none and no policy are opportunistic TLS, with no
//     certificate check and no certificate problem to report.
//   - Record: after STARTTLS (or its failure, or a host that does not
//     offer it), one call records the session exactly once under
//     Result.AppliedPolicy, with the result type and reason code, the
//     sending and receiving IP addresses taken from the connection, the MX
//     host name and the HELO name when known, and says whether to send the
//     message in the session.
//
// Record applies the first rule that fits: no policy in force because its
// fetch failed (Result.Failure without a Policy): that fetch failure; an
// MX host not allowed by a testing policy: validation-failure with reason
// ReasonMXNotInPolicy; no STARTTLS, a failed handshake or a certificate
// that fails the testing checks: the result type and reason of
// tlsrpt.Classify; a cached policy applied because the new one could not
// be fetched (Result.Failure with a Policy): that fetch failure; else a
// success. A host that cannot be reached at all (no connection, no
// greeting) is no session: RFC 8460 has no result type for it. Without
// STARTTLS the message goes in plain text unless the policy is enforced;
// a failed handshake leaves no usable connection, so the MTA tries the
// next MX.
//
// Session works with net/smtp (Client.StartTLS with s.TLSConfig(), then
// Client.TLSConnectionState) and with a raw net.Conn and tls.Client; the
// package Example shows the second. A Session is cheap (no allocation
// until TLSConfig); Record of a successful session costs an atomic add.
//
// Recheck is the last step of §5.1: before it fails a message
// permanently, the MTA asks for a fresh discovery, which ignores the TXT
// record's TTL. It is shared with any discovery running and paced (at
// most one per RecheckInterval per domain, and the fetch back-off of §3.3
// still applies), so bounces cannot hammer a policy host.
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
// id, a cache looks for it in the Store. Optional interfaces add what a
// shared Store can do: an ExpiringStore forgets policies past max_age, a
// StoreLister lets a starting cache refresh what the Store holds, and a
// FetchLocker makes MTAs that meet a new id at the same instant fetch it
// once: the cache takes the Store's lock of the domain, reads the Store
// again, and fetches only if no other MTA stored the policy meanwhile
// (background refreshes too). A lock that fails or takes more than half
// of Config.Timeout is logged and skipped: the lock saves fetches, it
// never delays a delivery's policy beyond that bound.
//
// # Memory and concurrency bounds
//
// Memory is bounded by Config.MaxMemory (DefaultMaxMemory, 64 MiB): the
// cache estimates what each policy domain keeps alive (its policy's text,
// 16 bytes per line and mx pattern, the error it reports and 800 bytes of
// bookkeeping) and, past the bound, forgets the least recently used
// domains until it is an eighth under it. A Lookup hit only stamps the
// domain's last use (an atomic store, at most once per clock tick), and the
// eviction pass runs in the discovery that crossed the bound, so hits stay
// lock-free. A valid policy leaves memory only once the Store holds it
// (written again first if its Put had failed): the next Lookup reads it
// back and applies it even when DNS and the policy host fail (fail-closed,
// §3.3). What eviction loses is the DNS answer's freshness (the TXT record
// is checked again), the pacing of a failed fetch, and the background
// refresh, which resumes once the domain is looked up again.
//
// A policy in memory is held as one copy of its text, of which the
// policy's strings and the TLS-RPT policy-string lines are substrings:
// with a MemoryStore, the Store's form of the entry, which the MemoryStore
// keeps without copying; with other Stores, only the policy's canonical
// form. MaxMemory does not cover the Store: a MemoryStore keeps that one
// copy of every policy it is given (at most 64 KiB each, usually a few
// hundred bytes). With no Store at all (Config.Store nil) the cache keeps
// the policies it evicts itself, in a compact form (canonical text, id and
// times, about 250 bytes for a usual policy) dropped at their expiry: 100
// 000 policies with MaxMemory 16 MiB took 31 MiB of heap, against 79 MiB
// with all of them ready for a hit (stsmapd's BenchmarkMemory100k). A cache
// that must bound the process's memory whatever the domains it talks to
// uses a DirStore or a shared Store. Measured with 2 000 domains serving
// 64 KiB policies and MaxMemory a quarter of their text: a DirStore cache
// keeps MaxMemory, a MemoryStore one the text once plus the bound (before
// these bounds: 3.9 times the text with a MemoryStore, 2.8 with a
// DirStore).
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
//   - The cache discovers policies only for the domains it is asked about,
//     and those its Store lists at start (StoreLister); a Store that cannot
//     be listed has its policies refreshed once they are looked up again.
//   - Without Config.Now, Lookup hits read a clock the loop advances every
//     100 ms instead of calling time.Now (most of the cost of a hit, and
//     slow on some virtual machines); entries then leave memory one second
//     before their TTL or max_age ends, never after.
//   - A discovery runs on its own context, bounded by Config.Timeout and
//     Close, not by the context of the Lookup that started it: a caller
//     that gives up must not spoil the answer for the others waiting.
//   - Policies are parsed strictly (mtasts.ParsePolicy), not in the
//     diagnosing mode: a sender applies only what the RFC's grammar allows.
//   - When a policy cannot be fetched and none is cached, its sessions are
//     reported under policy type sts without policy-string (no policy was
//     applied; see package tlsrpt), each as the fetch failure rather than
//     as its TLS outcome: with no policy no TLS check applies, and a report
//     can carry an sts policy without policy-string only with fetch
//     failures.
//   - Under mode none and without a policy, a completed handshake counts as
//     a success whatever the certificate, and a host without STARTTLS or a
//     failed handshake is reported (starttls-not-supported, or the
//     Classify type): these negotiation failures (RFC 8460 §4.3.1) concern
//     any domain that asks for reports, policy or not.
package policycache
