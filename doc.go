// Package smtpsec is the map of a library that makes server-to-server email
// transport strict: MTA-STS (RFC 8461) and SMTP TLS Reporting, TLS-RPT
// (RFC 8460). This package holds no code; the work is done by three
// packages, two leaves and one that joins them:
//
//   - [github.com/smtpsec/smtpsec/mtasts]: RFC 8461 on its own. The
//     _mta-sts TXT record and the policy file (strict parsing with line and
//     column errors, a diagnosing parse for what real hosts publish,
//     canonical serialisation), MX host patterns (§4.1, IDNA-aware, zero
//     allocations for ASCII hosts), fetching a policy over HTTPS with every
//     §3.3 rule, the §4.2 certificate checks for an MX host's STARTTLS
//     connection, and the policy-host side: an http.Handler serving
//     policies for many domains, DNS record text, policy ids derived from
//     content, and an inspector that checks a domain's live setup.
//   - [github.com/smtpsec/smtpsec/tlsrpt]: RFC 8460 on its own. The
//     _smtp._tls TXT record, the report types with a fast, size-bounded
//     JSON and gzip codec, classification of TLS errors into result types,
//     report file names, a Collector that records every session's outcome
//     and aggregates daily reports, delivery over HTTPS and email, and
//     receiving (an http.Handler and an email parser).
//   - [github.com/smtpsec/smtpsec/policycache]: the sender's resolver. It
//     looks up, fetches and caches policies by the §5.1 rules (fail-open
//     with nothing cached, fail-closed on a valid cached policy), coalesces
//     concurrent lookups, refreshes in the background and keeps policies in
//     a pluggable Store. It is the one package that imports both leaves: it
//     tells a delivery which TLS-RPT result to record.
//
// # Where to start
//
// A Go MTA author starts from policycache: a Cache says which policy
// applies to a recipient domain, and a Delivery applies it to the
// domain's MX hosts and records every session in a tlsrpt.Collector:
//
//	res, err := cache.Lookup(ctx, domain) // RFC 8461 §5.1, cached
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
//	// no MX took it: try later (§5); before bouncing, cache.Recheck
//
// Record applies the recording rules of RFC 8460 (result type, reason
// code, IP addresses, MX host) exactly once per session; the day's
// reports come from the Collector and go out with tlsrpt.Sender
// (tlsrpt.Outbox runs that daily and survives restarts):
//
//	reports, err := collector.Reports(ctx, yesterday)
//	err = sender.Send(ctx, report, record) // HTTPS POST and email
//
// A policy-host builder needs only mtasts: build and check a policy with
// mtasts.NewPolicy and (*mtasts.Policy).Validate, derive its id with
// mtasts.PolicyID, serve it with mtasts.Handler and print the DNS records to
// publish; package inspect checks a customer's live setup (inspect.Domain):
//
//	p, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, "mx1.example.com", "*.mail.example.com")
//	id := mtasts.PolicyID(p)
//	body, _ := p.MarshalText() // served at https://mta-sts.example.com/.well-known/mta-sts.txt
//
// A report receiver needs only tlsrpt: mount its HTTP handler for POSTed
// reports, read emailed reports with tlsrpt.ParseMessage, or decode a
// report file with tlsrpt.ParseReport:
//
//	r, err := tlsrpt.ParseReport(body) // JSON or gzip, sizes capped
//	if err := r.Validate(); err != nil { ... } // every RFC 8460 finding
//
// The programs under examples/ put the pieces together on loopback; start
// with "go run ./examples/demo".
package smtpsec
