// Stsmapd is an MTA-STS (RFC 8461) policy daemon for Postfix: a socketmap
// server (Postfix socketmap_table(5)) that answers smtp_tls_policy_maps
// lookups from package policycache, so that Postfix refuses to deliver to
// a domain with an enforced policy except over TLS to an MX host whose
// certificate matches the policy.
//
// Install and run it, with no configuration at all:
//
//	go install github.com/smtpsec/smtpsec/examples/stsmapd@latest
//	stsmapd
//
// It then listens on 127.0.0.1:8461 (the port of postfix-mta-sts-resolver),
// asks the resolvers of /etc/resolv.conf, trusts the system CA pool
// (SSL_CERT_FILE and SSL_CERT_DIR honoured), keeps policies in memory and
// serves the zone "postfix". Add to Postfix's main.cf:
//
//	smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
//	smtp_tls_security_level = may
//
// and run "postfix reload". The default TLS level (may, or dane with a
// DNSSEC resolver) stays in force for every domain without an enforced
// policy. With TLSRPT attributes on (Postfix ≥ 3.10, see Zones):
//
//	smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:tlsrpt
//
// # Replies
//
// A request is a netstring "NAME KEY": NAME is the zone (the part after
// the last colon of the map name), KEY the next-hop destination Postfix
// delivers to. Replies are netstrings too:
//
//	situation                                          reply
//	-------------------------------------------------  ------------------------------------------------------------
//	policy in mode enforce                             OK secure match=P1:P2 servername=hostname
//	mode testing, zone with strict_testing             OK secure match=P1:P2 servername=hostname
//	mode testing                                       NOTFOUND
//	mode none; no MTA-STS record; an invalid or        NOTFOUND
//	  ambiguous record (RFC 8461 §3.1)
//	policy announced but not fetchable, none cached    NOTFOUND  (fail-open, §3.3)
//	fetch or DNS failure, a valid policy cached        the cached policy's reply (fail-closed, §3.3, §5.1)
//	DNS failure or timeout, nothing cached             TEMP ...  (NOTFOUND with fail_open_undetermined)
//	discovery still running at request_timeout         TIMEOUT ... (NOTFOUND with fail_open_undetermined)
//	key ".example.com" (parent-domain retry)           NOTFOUND
//	key an address literal or IP ([192.0.2.1])         NOTFOUND
//	key not a valid domain (bad UTF-8, long label)     NOTFOUND, logged
//	unknown zone                                       PERM unknown socketmap name ...
//	request without a space                            PERM request is not "NAME KEY"
//	malformed netstring (length, comma, > 10000 B)     PERM invalid request: ...; then the connection closes
//	over max_connections                               TEMP ...overloaded... to the new connection, then closed
//	shutting down                                      TEMP ...shutting down
//
// NOTFOUND is "NOTFOUND " with its trailing space, as socketmap_table(5)
// requires. Postfix treats TEMP and TIMEOUT as temporary errors: the
// delivery is deferred and tried again later, never sent with less
// protection than the policy asks for. TEMP and TIMEOUT texts are fixed
// sentences: the domain is already in Postfix's log line.
//
// Keys "[host]:port", "[host]" and "host:port" are looked up as host;
// upper case and one trailing dot are normalised; U-labels are converted
// to A-labels.
//
// # MX patterns: what Postfix checks
//
// The match list is the policy's mx patterns with each "*.example.net"
// written ".example.net". Postfix's ".example.net" matches names at any
// depth below example.net, while RFC 8461 §4.1's "*.example.net" matches
// exactly one label; and Postfix checks the server certificate against the
// list, not the MX host name. An MX host outside the patterns is therefore
// refused only because its certificate does not match them.
//
// Postfix ≥ 3.10.5 with smtp_tls_enforce_sts_mx_patterns = yes (its
// default) transforms the policy when the reply carries the TLSRPT
// attributes (zone option tlsrpt): it connects only to MX hosts whose name
// matches an mx_host_pattern, with RFC 8461's one-label wildcard, and
// matches the certificate against that MX host name. That is exactly RFC
// 8461 §4.1 and §4.2: turn tlsrpt on wherever Postfix is 3.10 or newer.
//
// # Zones
//
// Each socketmap name is a zone with its own options, so one daemon
// serves several map entries (one per transport, say):
//
//   - strict_testing: answer policies in mode testing like enforce.
//   - tlsrpt: append Postfix ≥ 3.10's TLSRPT attributes to OK replies:
//     policy_type=sts policy_domain=D mx_host_pattern=P... { policy_string
//     = LINE }... and, when a fetch of a new policy failed under a cached
//     one, policy_failure=sts-policy-fetch-error (or sts-webpki-invalid,
//     sts-policy-invalid). Postfix before 3.10 rejects these attributes and
//     defers: leave tlsrpt off there. Policy lines holding a brace (only an
//     extension can) are left out of policy_string; attributes beyond the
//     100 000-byte reply limit are dropped, policy_string first.
//   - fail_open_undetermined: answer "could not determine" NOTFOUND instead
//     of TEMP or TIMEOUT, so that mail goes out at the default TLS level
//     rather than wait while DNS is down.
//
// A request for a zone that is not configured is answered PERM, so that a
// mistyped map name shows up as deferred mail, not as missing protection.
//
// # Configuration
//
// One JSON file (-config FILE), every field also a flag (flags win):
//
//	{
//	  "listen": "127.0.0.1:8461",           // or "unix:/run/stsmapd/stsmapd.sock"
//	  "metrics": "127.0.0.1:8462",          // loopback only; "" for none
//	  "store": "dir:/var/lib/stsmapd",      // or "memory", or a Redis URL
//	  "resolvers": ["127.0.0.1:53"],        // default: resolv_conf
//	  "resolv_conf": "/etc/resolv.conf",
//	  "ca_file": "",                        // default: the system pool
//	  "request_timeout": "20s",             // below Postfix's 100 s
//	  "discovery_timeout": "1m",            // TXT lookup plus fetch
//	  "cache_memory_mib": 16,               // policycache.Config.MaxMemory
//	  "idle_timeout": "60s",                // Postfix closes at 10 s itself
//	  "max_connections": 512,
//	  "drain_timeout": "30s",
//	  "log_level": "info",                  // debug logs every decision
//	  "zones": {
//	    "postfix": {},
//	    "tlsrpt": {"tlsrpt": true},
//	    "strict": {"strict_testing": true, "fail_open_undetermined": false}
//	  }
//	}
//
// (JSON has no comments: they are here to explain.) Flags: -config,
// -listen, -metrics, -store, -resolvers (comma-separated), -resolv-conf,
// -ca-file, -request-timeout, -discovery-timeout, -cache-memory-mib, -idle-timeout,
// -max-connections, -drain-timeout, -log-level, and -zones "postfix
// strict:strict_testing,tlsrpt". Unknown fields are errors.
//
// Stores: "memory" forgets policies on restart; "dir:PATH" is a
// policycache.DirStore, so that a restarted daemon applies the policies it
// had before its first DNS answer (RFC 8461 §3.3: a cached, unexpired
// policy stays in force). Either way the cache's memory is bounded by
// cache_memory_mib (default 16 MiB, about 14 000 domains): the least
// recently used domains leave it, and their policies are read back from
// the store when asked for again. With "memory" they stay in the process
// in a compact form (canonical text, id and times: about 250 bytes each,
// dropped at their expiry), so 100 000 cached policies fit in under
// 64 MiB of RSS (BenchmarkMemory100k); the next lookup of such a domain
// is a discovery whose TXT query confirms the kept policy (no fetch), as
// with a store on disk. For large
// sending volumes use dir:PATH or Redis.
//
// A Redis store is the fleet cache of the redisstore module: with
//
//	"store": "redis://:PASSWORD@10.0.0.5:6379/0?prefix=mta:"
//
// stsmapd reads and writes the keys of redisstore.PolicyStore with the same
// prefix (prefix + "policy:" + domain, the cache's bytes, expiring with the
// policy), so several stsmapd instances and Go MTAs sharing the Redis fetch
// each policy once between them, and a restarted daemon lists what the
// fleet holds. Before a fetch a daemon takes the fleet's fetch lock of the
// domain, the one redisstore's PolicyStore takes (prefix + "lock:" +
// domain, leased for discovery_timeout), then reads Redis again: daemons
// and MTAs meeting a new policy id at the same moment fetch it once; if
// the lock fails, the daemon fetches without it. The forms are redis://[[USER]:PASSWORD@]HOST[:PORT][/DB],
// rediss://... (TLS, with the system CA pool) and
// unix://[[USER]:PASSWORD@]/PATH?db=N, each with an optional prefix
// parameter (default none, as redisstore.NewPolicyStore(rc, "")). The
// client is a small one inside the core module (RESP2, a pool of 4
// connections, 2 s to connect and 2 s per command), so that the program
// needs no Redis library. Redis is read on a cache miss and written after
// a fetch, never on a hit; when it is down or slow, lookups go on from
// memory and the network as without a store, each failure is logged
// (warn) and counted in stsmapd_store_errors_total. The password is never
// logged.
//
// # Operation
//
//   - SIGHUP reloads the file: zones, request and idle timeouts,
//     max_connections and the log level apply at once, to open connections
//     too; listen addresses, store, resolvers, CA file, discovery_timeout
//     and cache_memory_mib need a restart (a change is logged). A file that
//     does not load keeps the running configuration.
//   - SIGTERM (or SIGINT) drains: no new connections, requests in progress
//     are answered, idle connections closed; after drain_timeout the rest
//     are closed.
//   - GET /metrics on the metrics address: stsmapd_lookups_total by zone and
//     decision, stsmapd_discoveries_total (TXT lookups),
//     stsmapd_fetches_total, stsmapd_fetch_failures_total by reason,
//     stsmapd_cache_domains (policy domains in memory), stsmapd_connections and the accepted and
//     refused connection counters, stsmapd_bad_requests_total,
//     stsmapd_store_errors_total (failed Redis reads, writes and locks). GET /healthz
//     answers 200 "ok" while serving, 503 while draining.
//   - Logs are log/slog text on standard error; level debug logs the
//     decision of every lookup, with mode, id, expiry, freshness and error.
//     Keys from the network are quoted and cut short before they are
//     logged.
//   - stsmapd -query example.com [-zone postfix] prints the reply Postfix
//     would get and why (exit status 0 for OK, 3 for NOTFOUND, 4 for TEMP
//     or TIMEOUT, 1 for errors), using the configuration's resolvers and
//     store.
//
// A systemd unit:
//
//	[Unit]
//	Description=MTA-STS policy daemon for Postfix
//	After=network-online.target
//	Wants=network-online.target
//	Before=postfix.service
//
//	[Service]
//	ExecStart=/usr/local/bin/stsmapd -config /etc/stsmapd.json
//	ExecReload=/bin/kill -HUP $MAINPID
//	DynamicUser=yes
//	StateDirectory=stsmapd
//	Restart=on-failure
//	LimitNOFILE=65536
//	NoNewPrivileges=yes
//	ProtectSystem=strict
//	ProtectHome=yes
//	PrivateTmp=yes
//
//	[Install]
//	WantedBy=multi-user.target
//
// with "store": "dir:/var/lib/stsmapd" in /etc/stsmapd.json.
//
// With socket activation, systemd holds the socket, so Postfix's
// connections wait in its queue while the daemon restarts: add
// stsmapd.socket,
//
//	[Socket]
//	ListenStream=127.0.0.1:8461
//	NoDelay=yes
//
//	[Install]
//	WantedBy=sockets.target
//
// and set "listen": "systemd" (or -listen systemd) for stsmapd.service,
// which then takes the first socket systemd passes (sd_listen_fds(3):
// LISTEN_PID, LISTEN_FDS, file descriptor 3). Without one it does not
// start.
//
// # Limits
//
// Requests are at most 10 000 bytes and replies at most 100 000; a
// connection idle for idle_timeout is closed; at most max_connections are
// served at once, and those beyond are answered TEMP at once (up to 64 at a
// time, then just closed, which Postfix also treats as a temporary error);
// every request is answered within request_timeout; every discovery ends
// within discovery_timeout; concurrent requests for one domain share one
// TXT lookup and one fetch; answers are kept for their DNS TTL, absent
// records for their negative TTL (RFC 2308).
//
// # Performance
//
// A request answered from memory costs about 0.7 µs of the daemon's CPU
// and no allocation; the rest is the socket. On 2 cores, 16 connections
// with one request in flight each (as Postfix's smtp(8) processes ask)
// and the client on the same cores, the daemon answered 45 000–51 000
// requests/s over TCP, where a server that only echoes a fixed reply
// answered 55 000–66 000: the loopback's system calls, not the lookup,
// set the pace. A unix socket (listen "unix:PATH", Postfix
// socketmap:unix:PATH:NAME) costs less: 65 000 requests/s, and 83 000–
// 92 000 with p99 under 1 ms when the client shares the daemon's Go
// runtime at GOMAXPROCS 3. Pipelined requests (4 per connection):
// 150 000 (BenchmarkSocketmapLoad).
//
// # Differences from postfix-mta-sts-resolver, on purpose
//
//   - "Could not determine" (DNS failure or timeout with nothing cached,
//     request deadline passed) is TEMP or TIMEOUT, so Postfix defers,
//     where the Python daemon answers NOTFOUND and the mail goes out at the
//     default level. A zone can choose NOTFOUND (fail_open_undetermined).
//   - Overload is refused at accept time with TEMP, never answered
//     NOTFOUND.
//   - A bad request is answered (PERM) after every request before it; a
//     non-ASCII key or a 64-byte label is NOTFOUND on a connection that
//     stays open; nothing pipelined is lost silently.
//   - Concurrent requests for a domain share one discovery; a domain
//     without a record costs one TXT query per negative TTL, not one per
//     request.
//   - An unknown zone is PERM, not the default zone's answer.
//   - The match list keeps the policy's order (the Python daemon's is a
//     set, in no fixed order), and the tlsrpt attributes also carry
//     policy_string and policy_failure.
//   - Policies are parsed strictly (RFC 8461 §3.2); a policy that does not
//     parse is a fetch failure, and a cached policy stays in force.
package main
