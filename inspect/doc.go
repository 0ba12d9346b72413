// Package inspect checks the live MTA-STS (RFC 8461) and TLS-RPT
// (RFC 8460) setup of a mail domain as a sending MTA sees it, and says
// what to fix. It sits above the two leaf packages, mtasts and tlsrpt, and
// uses both.
//
//	res, err := inspect.Domain(ctx, "example.com", inspect.Options{})
//	if err != nil {
//		return err // an invalid domain, or ctx ended
//	}
//	for _, f := range res.Findings {
//		fmt.Println(f) // "error mx-not-covered: ... (fix: ...)"
//	}
//	if !res.OK() { ... }
//
// # What is inspected
//
// Domain looks up, concurrently:
//
//   - the TXT records at _mta-sts.<domain>, selected and parsed by the
//     rules of RFC 8461 §3.1 (mtasts.LookupRecord); a CNAME there
//     (delegation, §8.2) is followed by the resolver;
//   - the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt,
//     fetched with every rule of §3.3 (mtasts.FetchRaw: certificate,
//     status 200 without redirects, text/plain, 64 KiB), parsed with
//     mtasts.DiagnosePolicy and also strictly with mtasts.ParsePolicy, as
//     senders do;
//   - the domain's MX records, matched against the policy's mx patterns
//     (§4.1), and each MX host's STARTTLS (RFC 3207): the EHLO reply, the
//     TLS handshake and the certificate, checked by §4.2
//     (mtasts.VerifyMXCertificate) and for its expiry date;
//   - the TLS-RPT TXT records at _smtp._tls.<domain>, selected and parsed
//     by RFC 8460 §3 (tlsrpt.SelectRecord), with at least one rua URI a
//     reporter can deliver to (mailto: or https:).
//
// Drift between the parts is what breaks live setups, and what Domain
// looks for: MX hosts that no pattern covers (such as an MX host two
// labels below a "*." wildcard, which matches exactly one label), patterns
// that cover no MX host, a policy changed behind an unchanged TXT id
// (with Options.LastPublished), certificates about to expire, and testing
// mode left on too long (with Options.TestingSince).
//
// # Findings
//
// Every problem is a Finding: a Severity, a stable code for programs, the
// subject (DNS name, policy URL, MX host or mx pattern), a message that
// says what is wrong and cites the RFC, and a fix. Fixes that call for a
// DNS record give the zone-file line to publish (mtasts.DNSRecord), with
// the id derived from the policy served (mtasts.PolicyID). What peers
// send and a message quotes (certificate names, SMTP replies, records) is
// escaped (control characters as Go escapes), so a Finding is safe to
// print; the Result's own fields hold the values as received.
//
// SeverityError means MTA-STS fails: senders fetch no policy, or refuse or
// fail delivery to an MX host. Result.OK reports whether there is none.
// SeverityWarning means it is weakened or will soon break. The codes:
//
// Errors:
//
//	dns-resolver-failed: the resolver asked did not answer any lookup; the only finding then,
//	    since nothing is known of the domain (this is the inspector's problem, not the domain's)
//	domain-missing: the domain does not exist (NXDOMAIN at the domain itself); the only finding
//	txt-missing, txt-multiple, txt-invalid, txt-lookup-failed: the _mta-sts record (RFC 8461 §3.1)
//	policy-http-status, policy-certificate, policy-media-type, policy-too-large,
//	policy-unreachable, policy-timeout: the policy fetch (§3.3, see mtasts.FetchFailure)
//	policy-syntax: a DiagnosePolicy finding (§3.2; a warning when DiagnosePolicy tolerates it)
//	policy-not-strict: only a lenient parser accepts the policy
//	id-drift: the policy changed, the TXT id did not (§3.1, §5.1; needs Options.LastPublished)
//	mx-missing, mx-lookup-failed: the MX records (a warning when some are usable)
//	mx-not-covered: an MX host no pattern matches (§4.1; a warning in mode testing)
//	starttls-missing, starttls-failed: an MX host's STARTTLS (§5)
//	cert-expired, cert-untrusted, cert-name-mismatch, cert-invalid: its certificate (§4.2)
//
// Warnings:
//
//	mode-none, testing-too-long, max-age-short: the policy's values (§5, §3.2)
//	pattern-unused: an mx pattern that matches no MX host (§8.4)
//	mx-null: the domain accepts no mail (RFC 7505)
//	mx-unreachable, mx-smtp-error, mx-not-probed: STARTTLS could not be checked
//	cert-expiring: a valid certificate expires within Options.CertExpiryWarning
//	tlsrpt-missing, tlsrpt-multiple, tlsrpt-invalid, tlsrpt-lookup-failed: the TLS-RPT record (RFC 8460 §3)
//	delegation-partial: only one of _mta-sts.<domain> and mta-sts.<domain> is a CNAME to a provider (RFC 8461 §8.2)
//
// Findings come in a fixed order: _mta-sts record, policy, id, MX
// coverage, MX hosts by preference, TLS-RPT, delegation.
//
// # DNS failures
//
// A failed lookup is put on whoever failed. A resolver that does not
// answer (timeout, connection refused, unreachable) while it answers
// nothing else is "dns-resolver-failed", naming the resolver
// (*net.DNSError's Server); one that answers with a failure (SERVFAIL,
// REFUSED) is the domain's name servers failing, as senders would see
// it: "txt-lookup-failed", "mx-lookup-failed", "tlsrpt-lookup-failed",
// whose messages name the resolver asked. NXDOMAIN at the domain itself
// is "domain-missing" when the Resolver tells NXDOMAIN ("no such host")
// from NODATA, as policycache.DNSResolver does; *net.Resolver says "no
// such host" for both, so with it Domain does not make that claim.
// Delegated setups are seen when the Resolver also has a LookupCNAME
// method (as *net.Resolver has): Result.TXTDelegatedTo and
// PolicyHostDelegatedTo name the provider's records. A Result's JSON form
// (encoding/json) has the policy as its text and each severity as "error"
// or "warning".
//
// # Network
//
// Domain touches the network it is given, and nothing else: DNS through
// Options.Resolver (TXT at _mta-sts.<domain> and _smtp._tls.<domain>, MX at
// <domain>; net.DefaultResolver when nil), one HTTPS GET through
// Options.HTTPClient, and, unless Options.SkipSTARTTLS is set, one SMTP
// connection to port 25 (Options.SMTPPort) of each MX host through
// Options.DialContext, which sends EHLO, STARTTLS and QUIT and never a
// message. It probes at most 10 MX hosts, 4 at a time, and reads at most
// 256 KiB from each. Each step is bounded by Options.Timeout
// (DefaultTimeout); failures of the network are findings, not errors. Run
// it where outgoing port 25 is open, or set SkipSTARTTLS.
package inspect
