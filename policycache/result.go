package policycache

import (
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Result is what Cache.Lookup tells a delivery to a policy domain: the
// MTA-STS policy to apply, if any, and what to record for TLS-RPT.
//
// A Result may share memory with the cache and with other Results: treat
// Policy and the slices in Report as read-only.
type Result struct {
	// Domain is the policy domain in lower-case A-labels.
	Domain string

	// Policy is the policy to apply, or nil when the domain has no policy
	// (or none could be fetched and none is cached: fail-open, RFC 8461
	// §3.3). A policy with mode none is returned as fetched; it gives no
	// protection (§5) and AllowsMX accepts every host under it.
	Policy *mtasts.Policy
	// ID is the id of the TXT record under which Policy was fetched.
	ID string
	// Expires is when Policy stops being usable: its fetch time plus its
	// max_age (§3.2). Zero when Policy is nil.
	Expires time.Time

	// FromCache reports that this Lookup fetched nothing: the answer was
	// already known (in memory or in the Store), perhaps after checking the
	// TXT record.
	FromCache bool
	// Fresh reports that the live DNS record agreed with this answer when
	// last asked, no longer ago than its TTL: the TXT record carries the id
	// of Policy, or there is no MTA-STS record and Policy is nil. It is
	// false when a cached policy is applied because discovery failed
	// (fail-closed, §3.3 and §5.1: DNS failure, TXT record gone, or the
	// policy of a new id could not be fetched), and when the TXT lookup
	// failed with nothing cached.
	Fresh bool

	// AppliedPolicy describes the policy for the "policy" object of a TLS-RPT
	// report (RFC 8460 §4.4): type sts with the policy's lines and mx
	// patterns, or no-policy-found when no policy applies (mode none
	// included, §5: "as though it does not have any active policy"). When
	// a policy could not be fetched and none is cached, the type is sts
	// without policy string, so that the failure is reported against the
	// policy the domain announced (a tlsrpt.Collector records only fetch
	// failures under it, which Session.Record does).
	AppliedPolicy tlsrpt.AppliedPolicy
	// Failure is the result type to record for this delivery's session
	// (RFC 8460 §4.3.2.2), empty when there is nothing to record:
	// sts-webpki-invalid when the policy host's certificate is not valid,
	// sts-policy-invalid when the policy does not parse, sts-policy-fetch-error
	// for any other fetch failure. RFC 8461 §6 asks senders to report
	// fetch failures when a TXT record exists, and not for a cached policy
	// whose mode is none.
	Failure tlsrpt.ResultType
	// Err says why discovery did not give a live policy: the fetch error
	// behind Failure, a failed or ambiguous TXT lookup (for instance two
	// MTA-STS records, §3.1). It is nil when the domain simply publishes
	// no MTA-STS record. Err is for logs; Policy already accounts for it.
	Err error
}

// ReasonMXNotInPolicy is the failure-reason-code (RFC 8460 §4.4) of a
// session with an MX host that matches none of the policy's mx patterns
// (RFC 8461 §4.1), delivered to because the policy is in mode testing. It
// goes with result type validation-failure, the catch-all of RFC 8460
// §4.3.1, which has no type of its own for it.
const ReasonMXNotInPolicy = "mx-not-in-policy"

// Enforced reports whether the policy is in mode enforce: the sender MUST
// NOT deliver to an MX host that fails validation, and treats that as a
// temporary failure (RFC 8461 §5).
func (r *Result) Enforced() bool {
	return r.Policy != nil && r.Policy.Mode == mtasts.ModeEnforce
}

// Testing reports whether the policy is in mode testing: the sender
// delivers even to MX hosts that fail validation, and reports the failures
// with TLS-RPT (RFC 8461 §5).
func (r *Result) Testing() bool {
	return r.Policy != nil && r.Policy.Mode == mtasts.ModeTesting
}

// AllowsMX reports whether host, the name of an MX record of the domain,
// is a valid MX host under the policy (RFC 8461 §4.1): it matches one of
// the policy's mx patterns. Without a policy, and under mode none, every
// host is allowed. Under mode testing a host that is not allowed is still
// delivered to, and the failure reported; under mode enforce it is skipped
// like an unreachable one (§5, §8.4). It is (*mtasts.Policy).Match: an
// ASCII host name is matched without allocating.
func (r *Result) AllowsMX(host string) bool {
	p := r.Policy
	if p == nil || p.Mode == mtasts.ModeNone {
		return true
	}
	return p.Match(host)
}
