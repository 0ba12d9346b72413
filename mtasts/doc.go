// Package mtasts implements SMTP MTA Strict Transport Security (MTA-STS,
// RFC 8461): the formats a domain publishes, the rules a sender applies, and
// single-shot network operations to discover a policy.
//
// # Formats
//
// A domain that supports MTA-STS publishes two things:
//
//   - a TXT record at _mta-sts.<domain> (§3.1), such as
//     "v=STSv1; id=20160831085700Z;", read with ParseRecord and written with
//     Record.String. SelectRecord applies the §3.1 rules to all TXT records
//     of a lookup: records not beginning with "v=STSv1;" are discarded and
//     exactly one must remain;
//   - a policy file at https://mta-sts.<domain>/.well-known/mta-sts.txt
//     (§3.2), read with ParsePolicy (strict, the default) or DiagnosePolicy
//     (tolerant of a few harmless slips, reporting every finding with line,
//     column, severity and a suggested fix), and written in canonical form
//     with Policy.MarshalText.
//
// A sender checks the name of each MX host against the policy's mx
// patterns with Policy.Match (§4.1); Pattern is a single pattern. A policy
// host builds a policy with NewPolicy or as a Policy literal checked by
// Policy.Validate, and derives the TXT record id from the policy content
// with PolicyID.
//
// Parse errors are *SyntaxError values carrying line, column, message and
// suggested fix; every error matches ErrInvalidRecord or ErrInvalidPolicy
// with errors.Is. Record selection fails with ErrNoRecord or
// ErrMultipleRecords; in each case §3.1 says the domain has no available
// policy, which does not remove a policy a sender has cached (§5.1).
//
// # Network operations
//
// LookupRecord reads the TXT record at _mta-sts.<domain> through any
// Resolver (*net.Resolver satisfies it), querying the absolute A-label name
// so that no search domain is appended. It tells "no available policy"
// (ErrNoRecord, ErrMultipleRecords, ErrInvalidRecord) apart from a failed
// lookup (ErrDNSTemporary: SERVFAIL, REFUSED, timeouts), after which a
// sender keeps using a cached policy (§3.3).
//
// Fetch and FetchRaw get https://mta-sts.<domain>/.well-known/mta-sts.txt
// as §3.3 requires. They require a certificate valid for mta-sts.<domain>
// and check that the response came over a connection crypto/tls verified
// for that name, so a client that skips verification cannot weaken this.
// Redirects are not followed, only 200 is accepted, the media type must be
// text/plain (parameters, charset included, are ignored, §3.2), the body is
// capped at MaxPolicySize (64 KiB, after any content decoding), and
// DefaultFetchTimeout (1 minute) applies when the context has no deadline.
// Fetch keeps no HTTP cache and sends "Cache-Control: no-cache"; a client
// whose transport caches must not be used. A *FetchError says which rule
// failed; FetchWebPKI maps to the TLS-RPT result sts-webpki-invalid,
// FetchPolicyInvalid to sts-policy-invalid, all others to
// sts-policy-fetch-error. Pacing retries after a failure (§3.3) is the
// caller's job (package policycache does it).
//
// MXTLSConfig and VerifyMXCertificate enforce §4.2 for STARTTLS: an
// unexpired certificate, a chain to a trusted root, and a dNSName SAN
// matching the MX host (RFC 6125; one whole left-most "*" label; the subject
// CN is never used). Checks run in the order validity, chain, name. A
// *CertificateError names the failed check and wraps the crypto/x509 error,
// so TLS-RPT classifiers can use errors.As. In testing mode an MTA completes
// the handshake without verification and calls VerifyMXCertificate on the
// peer certificates to learn what to report.
//
// # Policy hosts
//
// Handler serves /.well-known/mta-sts.txt for any number of policy
// domains, each under mta-sts.<domain>, from a lookup function the caller
// supplies. It answers with the policy's canonical CRLF form as
// "text/plain; charset=utf-8", to GET and HEAD only, with 404 Not Found for
// unknown hosts and paths, never with a redirect, and with a short
// Cache-Control max-age for reverse proxies in front of it (RFC 8461 §8.2).
// PolicyID derives the TXT record id from the policy's content.
// RecordTXT, RecordCNAME and PolicyHostCNAME build the DNS records as
// DNSRecord values: name, type, TTL and data as a DNS provider's API takes
// them, and a String method that gives the zone-file line, with TXT data
// split into strings of at most 255 bytes. Any other record (the TLS-RPT
// record of RFC 8460 §3) is a DNSRecord literal checked by Validate.
// Publish a changed policy before the TXT record carrying its new id
// (§8.1).
//
// Package github.com/smtpsec/smtpsec/inspect inspects a live setup as a
// sender sees it, with findings and fixes.
//
// # Coverage of RFC 8461
//
//   - §3.1 TXT record: the ABNF, strictly: "v=STSv1" first and
//     case-sensitive; "id" of 1 to 32 letters and digits, required;
//     extensions kept in order; US-ASCII only; whitespace around ";" and a
//     final ";" allowed. Selection among several TXT records.
//   - §3.2 policy file: the ABNF, strictly, with LF or CRLF line endings;
//     case-sensitive names and values; required version, mode and max_age;
//     mx required unless mode is none; duplicate fields (the first counts,
//     every one must be valid); unknown fields kept as extensions, in order;
//     mx values in A-labels only.
//   - §4.1 MX host matching: "*." only as the whole left-most label,
//     matching exactly one label; case-insensitive; trailing dot ignored;
//     hosts in U-labels converted to A-labels with the IDNA Lookup profile
//     of golang.org/x/net/idna.
//   - §8.1 and §8.3, for policy hosts: PolicyID changes whenever the policy
//     does; Validate refuses what senders would reject.
//   - §8.1 policy updates: Handler serves the new policy as soon as the
//     lookup function returns it, to be published before the TXT record
//     with the new id (package inspect reports a policy changed behind an
//     unchanged id).
//   - §8.2 policy delegation: RecordCNAME delegates _mta-sts, and
//     PolicyHostCNAME points mta-sts.<domain> at a provider; one Handler
//     serves any number of delegated domains by Host, with a
//     Cache-Control max-age (one minute by default) for reverse proxies.
//   - §8.3 removing MTA-STS: a policy with mode none and a small max_age
//     validates with no mx patterns and is served like any other.
//   - §8.4 preserving MX candidates: package inspect reports MX hosts that
//     no pattern covers and patterns that cover no MX host.
//
// # Decisions and deliberate deviations
//
// Where RFC 8461 leaves room, or its grammar is looser than the text:
//
//   - A max_age of 1 to 10 digits above 31557600 (one year, MaxMaxAge) is
//     clamped to 31557600 rather than rejected: the grammar allows it, and
//     rejecting it would turn a sloppy policy into no protection at all.
//     DiagnosePolicy reports it as a warning. max_age 0 is valid: the policy
//     applies to the delivery at hand and is not kept.
//   - mx values are checked beyond RFC 5321's Domain grammar: labels of at
//     most 63 and names of at most 253 characters (the DNS limits of
//     RFC 1035), a last label that is not all digits (so "192.0.2.1" is
//     rejected as the IP address it is, following RFC 1123 §2.1 and
//     RFC 3696 §2), and labels beginning with "xn--" must be valid A-labels
//     (they must decode and re-encode unchanged), since §3.2 says mx values
//     MUST be A-labels. A single-label name such as "localhost" is allowed,
//     as the grammar allows it. Letters are stored in lower case.
//   - NormalizeDomain, the one host name normaliser of the module,
//     accepts LDH labels with hyphens in the third and fourth positions
//     that do not begin with "xn--", such as "ab--c". IDNA2008 reserves
//     that form (RFC 5891 §4.2.3.1) and the IDNA Lookup profile rejects
//     it, but it is a valid DNS host name label that an MX record may
//     name; rejecting it would only leave such domains unprotected.
//     U-labels with that form, and "xn--" labels whose U-label has it,
//     are still rejected.
//   - §3.1 discards TXT records that do not begin with "v=STSv1;", while
//     its ABNF allows whitespace before the ";". SelectRecord keeps records
//     beginning with "v=STSv1", optional spaces or tabs, and ";", so that
//     "v=STSv1 ; id=a" is a record whether or not other TXT records exist
//     (erratum 6285, only reported, points out the conflict and would
//     rather forbid the whitespace).
//   - Every field named "id" in a TXT record must be a valid id (the ABNF
//     would also read an invalid one as an extension named "id"); the first
//     one counts.
//   - Extension values of the policy must be valid UTF-8 (RFC 3629) without
//     C0 control characters or DEL; tabs are allowed only around the value,
//     where the grammar's *WSP puts them.
//   - Blank lines are not in the §3.2 grammar and are rejected by
//     ParsePolicy. DiagnosePolicy accepts blank lines after the last field,
//     a UTF-8 byte order mark and a trailing dot on an mx host name, each
//     with a warning, and still rejects blank lines between fields.
//   - Columns count characters, not bytes, from 1. A missing required field
//     is reported on the line after the last one, or, when an unknown field
//     looks like its misspelling ("nmx" for "mx"), on that field's line.
//   - Policy.Match does not look at the mode; with mode none a sender does
//     not apply the policy at all (§5). It compares patterns of a Policy
//     built in code as if they were normalised. A host that is not valid
//     UTF-8 or not valid IDNA never matches. Host names are otherwise not
//     checked: they come from DNS.
//   - Policy.Validate reports mx patterns in U-labels or with a trailing
//     dot instead of converting them, so that a policy is never changed
//     behind its author's back; NewPolicy and ParsePattern convert them.
//     MarshalText validates first; String writes whatever the policy holds.
//   - A certificate that is not yet valid is CertificateInvalid (RFC 8460
//     has no result type for it, so it counts as validation-failure); an
//     IP-address MX host never matches a certificate; revocation, optional
//     in §4.2, is not checked.
package mtasts
