// Package redisstore puts the shared state of a fleet of sending MTAs in
// Redis: one MTA-STS policy cache (RFC 8461) and one TLS-RPT count
// (RFC 8460) for N machines, so that the fleet fetches each policy once
// and sends one report per policy domain and day whose sums are exact.
//
// It is a module of its own (github.com/smtpsec/smtpsec/redisstore), so
// that the core module keeps its small set of dependencies; it uses
// github.com/redis/go-redis/v9 and takes any redis.UniversalClient (a
// single server, or Sentinel failover).
//
// Three types, each a piece of the core packages' extension points:
//
//   - PolicyStore is a policycache.Store: give every MTA's
//     policycache.Config.Store one on the same Redis and prefix. Lookups
//     that hit the Cache's memory never touch Redis; a miss reads it and a
//     fetch writes it, with an expiry of max_age plus a grace
//     (policycache.ExpiringStore). A restarted MTA lists the stored
//     policies (policycache.StoreLister) and refreshes them in the
//     background before deliveries need them. MTAs meeting a new policy id
//     at the same instant fetch it once: the PolicyStore is a
//     policycache.FetchLocker, a lease per domain that one MTA holds while
//     it fetches and the others wait for, then reading what it stored.
//   - ResultStore is a tlsrpt.ResultStore and tlsrpt.BatchStore: give
//     every MTA's tlsrpt.Collector.Store one. A Flush is one Lua script,
//     one round trip, that checks the batch id and adds the counts
//     atomically, so a Flush retried after a lost reply is counted once.
//   - DayLeader elects the MTA that makes a day's reports from the fleet's
//     sums: a lease (SET NX PX) and a done mark.
//
// When Redis is unavailable, lookups go on from memory and from the
// network (fail-open and fail-closed as without a Store), and a
// Collector keeps its counts and retries (tlsrpt.Collector.FlushEvery):
// nothing recorded is lost.
//
// A fleet's daily job: each MTA runs a tlsrpt.Outbox with its own
// Collector (on the shared ResultStore), its own OutboxStore and its own
// DayLeader; the Outbox asks the leader before making a day's reports, so
// the fleet sends one per policy domain:
//
//	leader, err := redisstore.NewDayLeader(rc, "mta:", 0)
//	outbox := &tlsrpt.Outbox{Store: tlsrpt.DirOutbox(dir), Sender: sender,
//		Collector: collector, Leader: leader}
//	go outbox.Run(ctx)
//
// # Data layout
//
// Every key starts with the prefix given to the constructors:
//
//   - policy:D, a string: the cache entry of policy domain D, as
//     policycache.DirStore stores it, expiring max_age plus a grace after
//     its fetch (PolicyStore);
//   - lock:D, a string: the fetch lock of D, a random token of the MTA
//     holding it, expiring after PolicyStore.FetchLease; deleted by its
//     holder only while it still holds that token (PolicyStore.LockFetch);
//   - the TLS-RPT counts of each day, batch ids and day list, described at
//     ResultStore;
//   - tlsrpt:DAY:leader and tlsrpt:DAY:done, the lease and the done mark of
//     a day's job (DayLeader).
package redisstore
