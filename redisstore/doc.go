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
//     background before deliveries need them.
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
// A fleet's daily job, run by every MTA shortly after midnight UTC:
//
//	ok, err := leader.Lead(ctx, yesterday)
//	if err != nil || !ok {
//		return err // another MTA has it, or it is done
//	}
//	reports, err := collector.Reports(ctx, yesterday) // the fleet's sums
//	... enqueue the reports for delivery ...
//	return leader.Done(ctx, yesterday)
package redisstore
