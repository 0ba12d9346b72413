// Package tlsrpt implements SMTP TLS Reporting (RFC 8460): the policy a
// domain publishes in DNS, the JSON report format, and what a sending MTA
// needs to record TLS failures and deliver reports, and a receiver to
// take them in.
//
// # Records
//
// A domain asks for reports with a TXT record at _smtp._tls.<domain>
// (§3), such as
//
//	v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1
//
// LookupRecord queries it through any Resolver (*net.Resolver is one);
// SelectRecord applies the rule for several TXT records (those not
// beginning with "v=TLSRPTv1;" are discarded, exactly one must remain);
// ParseRecord parses one by the ABNF of §3 and Record.String writes it back.
// Record.Destinations returns the rua URIs a reporter can use (mailto: and
// https:); other schemes are kept in Record.RUA but not usable.
//
// # Reports
//
// Report and the types it holds are the JSON report of §4.4, with the
// member names of the schema. ParseReport and Decoder read a report, plain
// (MediaTypeJSON) or gzip-compressed (MediaTypeGzip, recognised by its magic
// bytes); Report.MarshalJSON writes it (so encoding/json gives the RFC form)
// and EncodeGzip writes the gzip body a report is sent as (an Encoder does
// the same for many reports, reusing its compressor). Report.Validate
// checks a report against §4 and lists every problem with its JSON path.
// ParseFileName and FileName handle report file names (§5.1).
//
// Classify maps the error of a failed TLS session (crypto/tls and
// crypto/x509 errors, ErrSTARTTLSNotSupported, network errors) to a result
// type and failure reason code, so that an MTA records a failure with one
// call.
//
// # Collecting results
//
// A sending MTA records each SMTP session once with a Collector: Policy
// returns the PolicyCounter of the policy it applied (keep it with the
// cached policy), and PolicyCounter.Success or Failure records the outcome.
// Successes cost one atomic add without allocating; failures are added up
// per failure detail. At most MaxFailureDetails distinct details are kept
// per policy and UTC day; further failures are folded into one detail per
// result type and sending IP (failure-reason-code ReasonDetailLimit),
// counted by Collector.Overflow, so no session goes uncounted. Sessions are
// assigned to UTC days (§4.1) by reading the clock once per session; a
// Collector starts no goroutine or timer and needs no Close. Sessions that deliver reports should not
// be recorded (§5.3.1).
//
// Flush adds the counts to a ResultStore as deltas: MemoryStore, FileStore
// (an fsynced append-only file per day that survives restarts), or a shared
// database, so that a fleet of MTAs adds up into one report (see
// ResultStore). Collector.Reports builds the reports of a finished UTC day,
// one per policy domain, covering 00:00:00Z to 23:59:59Z.
//
// # Delivering reports
//
// An Outbox is the daily job of a sending MTA: with the MTA's Collector,
// its RunOnce (or Run, in a goroutine) makes the reports of every finished
// UTC day, stores each in an OutboxStore (DirOutbox: one file per key,
// written to a temporary file, fsynced, renamed, directory fsynced) before
// the first attempt, then looks up the policy domain's record (LookupRecord)
// and delivers to each of its mailto: and https: destinations (at most 10).
// The state of every destination (pending, delivered, given up, attempts,
// last error, next attempt) is stored after each attempt, so a restart
// resumes every pending delivery at its time and never sends a report
// again where it was accepted. Failures are retried with waits doubling
// from Sender.Backoff up to 4 hours, for RetryWindow (24 hours, §5.5) from
// the first attempt, which falls at random in StartWindow after midnight
// UTC (§5 asks senders to spread their reports); what is still undelivered
// then is given up and logged. Report-ids are stable (Collector.Reports),
// so a report made twice, after a crash or by two MTAs, is enqueued once
// and recognised by receivers. Among a fleet sharing a ResultStore, a
// DayLeader picks the MTA that makes a day's reports.
//
// Sender holds how a report travels. HTTPS POST (§5.4) sends the gzip body;
// only 2xx delivers, and no redirect is ever followed, not even 307 or
// 308: a client following 301, 302 or 303 turns the POST into a GET
// without the report whose 2xx would look like a delivery, and a report
// goes only to the URI its domain published. A redirect is an *HTTPError
// retried like a 5xx; other 4xx (413 included) are final. Email (§5.3) is
// the multipart/report of Sender.Message with the TLS-Report-Domain,
// TLS-Report-Submitter and "TLS-Required: No" headers, DKIM-signed by
// Sender.DKIM (a DKIMSigner, RSA-SHA256 or Ed25519-SHA256, relaxed/relaxed,
// no l=, the TLS-Report headers and Subject signed; or any MessageSigner)
// and handed to Sender.Mail: SMTPRelay.Send sends through a relay with a
// configurable EHLO name and requires STARTTLS unless AllowPlaintext. The
// MTA's own sending sessions recognise report emails with IsReportMessage
// and do not record them in the Collector (§5.3.1: no loops).
// Sender.Send is the older, in-memory way: it retries for about 16 hours
// and loses what it holds on a restart.
//
// # Receiving reports
//
// Handler receives POSTed reports (405, 415, 413 and 400 for bad requests,
// 500 when its callback fails and 503 when it is busy, so that the sender
// retries); it is lenient unless Strict, its callback finds the request
// (the client's address, the URL) with RequestFromContext, and it keeps
// r.Clone() of what it keeps (see Limits). ParseMessage reads the report out of a report email
// (multipart/report with report-type tlsrpt, possibly nested, or a
// whole-message report part; base64 and quoted-printable) and returns
// ErrNoReport for anything else.
//
// # Limits
//
// Reports come from the Internet, so a Decoder bounds what it reads: at
// most MaxCompressedSize bytes of input (DefaultMaxCompressedSize, 10 MiB)
// and MaxReportSize bytes of JSON after decompression
// (DefaultMaxReportSize, 50 MiB), MaxPolicies policy results
// (DefaultMaxPolicies, 10 000) and MaxFailureDetails failure details in all
// (DefaultMaxReportFailureDetails, 100 000), and 100 000 policy-string and
// mx-host elements. It reads one byte past a byte limit to see that it is
// exceeded, then stops; past any limit the error is a *LimitError naming
// it, matching ErrTooLarge. Arrays and objects may nest 10000 deep, as in
// encoding/json.
//
// Memory is proportional to the JSON text, by construction. Decoding a
// report of N bytes of JSON with E policy results and failure details and
// S policy strings allocates at most
//
//	3·N + 1280·E + 96·S + 2 MiB bytes
//
// in all, and so holds no more at its peak: 2·N for the text (read in
// chunks and joined, or N when the length is known, as for a request with
// a Content-Length), N for strings with escapes, and per entry its struct,
// the doubling of its slice and its notes. Each invalid UTF-8 byte in a
// string the report keeps costs 2 more (U+FFFD takes 3 bytes). A real
// report of 300 KB allocates 1.9·N as plain JSON and 3.7·N gzip-compressed
// (the chunks, the join and the decompressor's state): its entries are a
// few hundred bytes of JSON each. Empty objects, nulls and repeated members cost no more than real
// entries (an object notes at most one duplicate member; a null costs
// nothing), so a flood of "{}" costs at most E·1280 bytes before the count
// limit stops it: MaxFailureDetails bounds that share. Validate allocates
// only for the MaxProblems (100) problems it lists; it counts the rest.
//
// Errors never copy much of the input: a *SyntaxError, a *ValidationError
// and every other error of this package that quotes a value from the
// network quote at most its first 64 bytes, escaped, with the position
// (line, column, JSON path), so that an error is a line, safe to log and
// to send back.
//
// The strings of a decoded report share the memory of the decoded JSON
// text, which saves a copy: a report that is looked at and dropped costs
// nothing more. What outlives the decode — a report kept in memory, or any
// of its strings kept as a map key — should be Report.Clone, whose
// strings own their memory: keeping a string of the decoded report keeps
// all of the text (up to MaxReportSize) alive.
//
// Receiving applies the same limits: a Handler decodes at most
// MaxConcurrent reports at once (DefaultMaxConcurrent, 4; the others wait
// with their bodies unread, at most ReadTimeout, then get 503), reads a
// request body with its Decoder's limits (413 past them) and within
// ReadTimeout (DefaultReadTimeout, one minute), and answers in at most 512
// bytes. Its memory is so at most MaxConcurrent times the bound above.
// ParseMessage reads at most MaxMessageSize bytes of email (16 MiB),
// multiparts nested at most 8 deep and 200 MIME parts in all, and decodes
// the report part with the default Decoder limits.
//
// # Real-world reports
//
// Senders deviate from RFC 8460. Reading is lenient where a deviation
// loses nothing, and the deviations stay visible: Validate lists them for
// a report read by ParseReport or UnmarshalJSON (those marked "no finding"
// excepted, as they break no rule of the RFC or lose nothing). Accepted:
//
//   - date-times without a time zone (Microsoft) are read as UTC;
//     date-times with an offset other than zero are converted to UTC;
//   - mx-host as a single string rather than an array (RFC 8460
//     Appendix B; erratum 6241 made it an array) is read as an array of
//     one, and so is policy-string as one string (Microsoft packs TLSA
//     records into one);
//   - an empty string (Google) or a non-address in sending-mta-ip or
//     receiving-ip leaves the address unset;
//   - null (contact-info in Stalwart reports) counts as absent, and an
//     empty array as no array;
//   - missing members: counts (Stalwart), policy-domain for
//     no-policy-found (Postfix, Stalwart), mx-host and policy-string
//     (Google, Microsoft), sending-mta-ip (Microsoft, Mail.ru);
//     receiving-ip and failure-details (no finding);
//   - failure-details whose failed-session-counts add up to more than
//     total-failure-session-count (Mail.ru);
//   - policy types and result types that are not registered (kept as
//     written, for example "STS");
//   - members the schema does not define, which are ignored (no finding);
//   - a member given twice in an object (I-JSON, RFC 7493, requires
//     unique names): the last counts, as in encoding/json;
//   - invalid UTF-8 in strings, which becomes U+FFFD as in encoding/json
//     (no finding).
//
// The end of the date range is accepted both as the last second of the day
// (23:59:59Z, as Google and the RFC's example write it) and as the next
// day's 00:00:00Z (Mail.ru), which is the 24:00 of §4.1; neither is a
// finding.
//
// Rejected with a *SyntaxError (with line, column and JSON path): JSON
// syntax errors (the RFC's Appendix B as printed has a line break inside a
// string; a byte order mark, which RFC 8259 §8.1 forbids senders to add,
// is one too), data after the report, values of the wrong type (policies not
// an array, counts as strings, fractional, negative or past the largest
// int64: counts are non-negative integers, as §4.4 counts sessions), and
// date-times that are not RFC 3339 in other ways (seconds 60, offset hours
// past 23, a space for "T", more than 64 bytes).
//
// Writers are strict: MarshalJSON and EncodeGzip always write mx-host and
// policy-string as arrays, date-times in UTC with "Z", IPv6 addresses in
// RFC 5952 form without zones, the members in the order of §4.4, and
// valid UTF-8. They do not validate, so that reports received with
// deviations can be stored; senders call Validate before sending.
//
// # Decisions
//
// The deliberate choices where RFC 8460 leaves room, and the places where
// this package departs from the RFC's letter or from what might be
// expected:
//
//   - A TXT record counts as a TLS-RPT record when it begins with
//     "v=TLSRPTv1" and optional white space then ";" (the ABNF's
//     field-delim allows the white space); "v=TLSRPTv1" alone does not.
//   - ParseRecord follows the ABNF strictly: white space after the last
//     field without a ";" is an error, and one invalid URI (a raw "!", say,
//     from a DMARC-style size limit) makes the whole record invalid, as
//     the record then does not match tlsrpt-record.
//   - The addresses of mailto: URIs must have domains in A-labels.
//   - Validate checks the MUSTs and the schema of §4. It does not check
//     SHOULDs: that the range is one whole UTC day (§4.1) or that
//     certificate-not-trusted and validation-failure carry a
//     failure-reason-code. It does require sending-mta-ip, which the
//     schema lists without marking it optional, but not receiving-ip,
//     which the RFC's own example leaves out.
//   - Classify reports a certificate that is not yet valid as
//     validation-failure, since certificate-expired says the certificate
//     has expired; its reason codes for certificates are the OpenSSL
//     X509_V_ERR names reports commonly carry.
//   - EncodeGzip and Encoder compress at gzip.BestSpeed (see there).
//   - An Outbox (and Sender.Send) delivers a report to every usable rua
//     destination, each retried on its own, rather than trying them in
//     turn until one accepts: §3 lets a domain list several URIs "as with
//     DMARC", and DMARC (RFC 7489 §6.2) sends a report to each listed URI.
//     It delivers to at most 10, so that a record cannot multiply the
//     reports a sender sends.
//   - Report emails are DKIM-signed with github.com/emersion/go-msgauth,
//     the one dependency beyond x/net and miekg/dns: DKIM canonicalization
//     and tag syntax are easy to get subtly wrong, and its dkim package
//     pulls in nothing but x/crypto. Sender.DKIM nil sends them unsigned,
//     for a Mail that signs on the way. ParseMessage does not verify DKIM;
//     a receiver that must trust the report's origin (§5.3) checks the
//     signature first.
//   - The sender part of a report's file name (§5.1) is the domain of its
//     contact-info, as the ABNF's comment says, so it follows from the
//     report alone; the submitter (Sender.Submitter) only when contact-info
//     has no domain.
//   - Report emails of one report to one destination have the same
//     Message-ID on every try, so that a copy sent after a crash between
//     the relay's 250 and the stored state can be dropped by receivers.
package tlsrpt
