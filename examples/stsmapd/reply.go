package main

import (
	"errors"
	"strings"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
)

// outcome is the decision for one request; each has its reply form and
// its metrics counter.
type outcome uint8

const (
	// outSecure: an enforced policy (or testing under strict_testing):
	// OK secure match=... servername=hostname.
	outSecure outcome = iota
	// outNoPolicy: determined that no policy applies (no record, an
	// invalid or ambiguous record, mode none): NOTFOUND.
	outNoPolicy
	// outTesting: a policy in mode testing: NOTFOUND.
	outTesting
	// outFailOpen: a policy was announced but could not be fetched, and
	// none is cached (RFC 8461 §3.3 fail-open); or "could not determine"
	// in a zone configured to fail open: NOTFOUND.
	outFailOpen
	// outUndetermined: the DNS lookup failed or timed out with nothing
	// cached: TEMP, so that Postfix defers and retries.
	outUndetermined
	// outTimeout: the request deadline passed while the discovery runs
	// on: TIMEOUT, which Postfix treats as TEMP.
	outTimeout
	// outBadKey: a parent-domain retry, an address literal or an invalid
	// domain: NOTFOUND.
	outBadKey
	// outClosing: the daemon is shutting down: TEMP.
	outClosing
	numOutcomes
)

// outcomeNames are the metric labels of the outcomes.
var outcomeNames = [numOutcomes]string{
	outSecure:       "secure",
	outNoPolicy:     "no_policy",
	outTesting:      "testing",
	outFailOpen:     "fail_open",
	outUndetermined: "undetermined",
	outTimeout:      "timeout",
	outBadKey:       "bad_key",
	outClosing:      "closing",
}

// Reply texts that do not depend on the policy. TEMP reasons are fixed
// texts: Postfix logs them, and the domain is in its log line already.
const (
	replyNotFound     = "NOTFOUND "
	replyUndetermined = "TEMP MTA-STS policy could not be determined (DNS failure or timeout); try again later"
	replyTimeout      = "TIMEOUT MTA-STS policy discovery still running at the request deadline; try again later"
	replyClosing      = "TEMP MTA-STS policy daemon shutting down"
	replyOverload     = "TEMP MTA-STS policy daemon overloaded: too many connections"
	replyNotRequest   = "PERM request is not \"NAME KEY\""
	replyUnknownZone  = "PERM unknown socketmap name (not a zone of the MTA-STS policy daemon)"
)

// decide turns the outcome of Cache.Lookup into the decision of zone z.
func decide(z *zone, res *policycache.Result, err error) outcome {
	if err != nil {
		switch {
		case errors.Is(err, policycache.ErrInvalidDomain):
			return outBadKey
		case errors.Is(err, policycache.ErrClosed):
			return outClosing
		}
		// The request's deadline passed (context.DeadlineExceeded) while
		// the discovery runs on: not determined in time.
		if z.FailOpenUndetermined {
			return outFailOpen
		}
		return outTimeout
	}
	if p := res.Policy; p != nil {
		switch {
		case p.Mode == mtasts.ModeEnforce:
			return outSecure
		case p.Mode == mtasts.ModeTesting && z.StrictTesting:
			return outSecure
		case p.Mode == mtasts.ModeTesting:
			return outTesting
		}
		return outNoPolicy // mode none
	}
	switch {
	case res.Failure != "":
		// A TXT record was found but its policy could not be fetched or
		// parsed, and nothing is cached: fail-open, RFC 8461 §3.3.
		return outFailOpen
	case res.Err != nil && !res.Fresh:
		// The TXT lookup failed (SERVFAIL, timeout, ...) and nothing is
		// cached: whether the domain has a policy is unknown.
		return z.undetermined()
	}
	// No record, or an invalid or ambiguous one (Fresh, RFC 8461 §3.1):
	// determined to have no policy.
	return outNoPolicy
}

// undetermined is the decision for "could not determine" in z.
func (z *zone) undetermined() outcome {
	if z.FailOpenUndetermined {
		return outFailOpen
	}
	return outUndetermined
}

// appendReply appends the reply of decision o for res in zone z, without
// netstring framing, to dst.
func appendReply(dst []byte, z *zone, o outcome, res *policycache.Result) []byte {
	switch o {
	case outSecure:
		start := len(dst)
		dst = appendSecure(dst, res.Policy)
		if z.TLSRPT {
			full := appendTLSRPT(dst, res, true)
			if len(full)-start <= maxReply {
				return full
			}
			// Too long for Postfix with the policy's text: without it.
			dst = appendTLSRPT(dst, res, false)
			if len(dst)-start <= maxReply {
				return dst
			}
			dst = appendSecure(dst[:start], res.Policy)
		}
		return dst
	case outUndetermined:
		return append(dst, replyUndetermined...)
	case outTimeout:
		return append(dst, replyTimeout...)
	case outClosing:
		return append(dst, replyClosing...)
	}
	return append(dst, replyNotFound...)
}

// appendSecure appends "OK secure match=P1:P2 servername=hostname": the
// certificate must match one of the policy's mx patterns, each "*.x"
// written ".x" as Postfix expects, and SNI names the MX host.
func appendSecure(dst []byte, p *mtasts.Policy) []byte {
	dst = append(dst, "OK secure match="...)
	for i, mx := range p.MX {
		if i > 0 {
			dst = append(dst, ':')
		}
		if strings.HasPrefix(mx, "*.") {
			mx = mx[1:]
		}
		dst = append(dst, mx...)
	}
	return append(dst, " servername=hostname"...)
}

// appendTLSRPT appends the TLSRPT attributes of Postfix ≥ 3.10 (and its
// smtp_tls_enforce_sts_mx_patterns of 3.10.5): the policy type, domain,
// mx patterns as published, each line of the policy as a policy_string
// (when withText; lines with a brace, possible only in extensions, cannot
// be written in Postfix's { name = value } syntax and are left out), and
// the TLS-RPT result type of a failed fetch under a cached policy.
func appendTLSRPT(dst []byte, res *policycache.Result, withText bool) []byte {
	dst = append(dst, " policy_type=sts policy_domain="...)
	dst = append(dst, res.Domain...)
	for _, mx := range res.Policy.MX {
		dst = append(dst, " mx_host_pattern="...)
		dst = append(dst, mx...)
	}
	if withText {
		for _, line := range res.AppliedPolicy.PolicyString {
			if strings.ContainsAny(line, "{}") {
				continue
			}
			dst = append(dst, " { policy_string = "...)
			dst = append(dst, line...)
			dst = append(dst, " }"...)
		}
	}
	if res.Failure != "" {
		dst = append(dst, " policy_failure="...)
		dst = append(dst, res.Failure...)
	}
	return dst
}
