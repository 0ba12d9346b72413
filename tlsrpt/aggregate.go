package tlsrpt

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// This file holds what the collector and the result stores share: the UTC
// day arithmetic, the normal form of policies and failure details (what
// makes two of them "the same" when counts are added up), and aggregate, a
// sum of per-policy results.

const secondsPerDay = 24 * 60 * 60

// dayNumber is the number of the UTC day holding t: days since 1970-01-01.
func dayNumber(t time.Time) int64 {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return d
}

// dayStart is 00:00:00Z of UTC day d.
func dayStart(d int64) time.Time {
	return time.Unix(d*secondsPerDay, 0).UTC()
}

// dateRange is the report window of UTC day d: 00:00:00Z to 23:59:59Z, the
// form of the RFC 8460 Appendix B example and of the largest senders.
func dateRange(d int64) DateRange {
	start := dayStart(d)
	return DateRange{Start: start, End: start.Add(secondsPerDay*time.Second - time.Second)}
}

// normalHost lower-cases an ASCII host name or pattern and removes one
// trailing root dot. It allocates only when the name has upper-case letters.
func normalHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// sameHost reports whether a, already in normal form, names host b.
func sameHost(a, b string) bool {
	return strings.EqualFold(a, strings.TrimSuffix(b, "."))
}

// normalPolicy returns a copy of p in normal form, sharing no slices with p.
func normalPolicy(p AppliedPolicy) AppliedPolicy {
	n := AppliedPolicy{Type: p.Type, Domain: normalHost(p.Domain)}
	if len(p.PolicyString) > 0 {
		n.PolicyString = slices.Clone(p.PolicyString)
	}
	if len(p.MXHost) > 0 {
		n.MXHost = make([]string, len(p.MXHost))
		for i, h := range p.MXHost {
			n.MXHost[i] = normalHost(h)
		}
	}
	return n
}

// clonePolicy returns a copy of p that shares no slices with it.
func clonePolicy(p AppliedPolicy) AppliedPolicy {
	p.PolicyString = slices.Clone(p.PolicyString)
	p.MXHost = slices.Clone(p.MXHost)
	return p
}

// samePolicy reports whether n, in normal form, and p describe one policy.
func samePolicy(n *AppliedPolicy, p *AppliedPolicy) bool {
	if n.Type != p.Type || !sameHost(n.Domain, p.Domain) ||
		!slices.Equal(n.PolicyString, p.PolicyString) || len(n.MXHost) != len(p.MXHost) {
		return false
	}
	for i := range n.MXHost {
		if !sameHost(n.MXHost[i], p.MXHost[i]) {
			return false
		}
	}
	return true
}

// policyKey is an injective string form of a policy in normal form.
func policyKey(p *AppliedPolicy) string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(string(p.Type))
	field(p.Domain)
	b.WriteString(strconv.Itoa(len(p.PolicyString)))
	for _, s := range p.PolicyString {
		field(s)
	}
	b.WriteString(strconv.Itoa(len(p.MXHost)))
	for _, s := range p.MXHost {
		field(s)
	}
	return b.String()
}

// detailKey is d in normal form with its count zeroed: the key under which
// failed sessions are added up. Host names are compared without case and
// trailing dot, IPv4-mapped IPv6 addresses as IPv4, zones are dropped. It
// allocates only when a host name has upper-case letters.
func detailKey(d FailureDetail) FailureDetail {
	d.FailedSessionCount = 0
	d.ReceivingMXHostname = normalHost(d.ReceivingMXHostname)
	d.ReceivingMXHelo = normalHost(d.ReceivingMXHelo)
	d.SendingMTAIP = d.SendingMTAIP.Unmap().WithZone("")
	d.ReceivingIP = d.ReceivingIP.Unmap().WithZone("")
	return d
}

// ReasonDetailLimit is the failure-reason-code of the failure details into
// which a Collector folds failed sessions once a policy has reached its
// limit of distinct failure details for the day (Collector.MaxFailureDetails).
// Such a detail keeps the result type, the sending MTA's IP address and
// the session count but no receiving endpoints, so that the failed
// sessions stay counted in detail as in the summary.
const ReasonDetailLimit = "too many distinct failure details; endpoints omitted"

// overflowKey is the detail into which a failure d is folded: its result
// type and sending MTA IP are kept. Result types outside the IANA registry
// fold into validation-failure, "a general failure for a reason not
// matching a category above" (RFC 8460 §4.3.1), so that there are at most
// as many overflow details as registered result types times the sending
// MTA's own addresses.
func overflowKey(d FailureDetail) FailureDetail {
	t := d.ResultType
	switch t {
	case ResultSTARTTLSNotSupported, ResultCertificateHostMismatch,
		ResultCertificateExpired, ResultCertificateNotTrusted,
		ResultValidationFailure, ResultTLSAInvalid, ResultDNSSECInvalid,
		ResultDANERequired, ResultSTSPolicyFetchError, ResultSTSPolicyInvalid,
		ResultSTSWebPKIInvalid:
	default:
		t = ResultValidationFailure
	}
	return FailureDetail{ResultType: t, SendingMTAIP: d.SendingMTAIP, FailureReasonCode: ReasonDetailLimit}
}

// compareDetails orders failure details by descending session count, then
// by their fields, so that reports list the largest problems first and are
// reproducible.
func compareDetails(a, b FailureDetail) int {
	return cmp.Or(
		cmp.Compare(b.FailedSessionCount, a.FailedSessionCount),
		cmp.Compare(a.ResultType, b.ResultType),
		cmp.Compare(a.ReceivingMXHostname, b.ReceivingMXHostname),
		a.ReceivingIP.Compare(b.ReceivingIP),
		a.SendingMTAIP.Compare(b.SendingMTAIP),
		cmp.Compare(a.ReceivingMXHelo, b.ReceivingMXHelo),
		cmp.Compare(a.FailureReasonCode, b.FailureReasonCode),
		cmp.Compare(a.AdditionalInformation, b.AdditionalInformation),
	)
}

// aggregate adds up per-policy results: successes, failures and failed
// sessions per failure detail, keyed by the normal forms of policy and
// detail. The zero value is empty and ready to use.
type aggregate struct {
	byKey map[string]*policySum
}

type policySum struct {
	policy  AppliedPolicy
	summary Summary
	details map[FailureDetail]int64
}

// checkCounts rejects negative counts: results are additive deltas.
func checkCounts(r *PolicyResult) error {
	if r.Summary.TotalSuccessfulSessionCount < 0 || r.Summary.TotalFailureSessionCount < 0 {
		return fmt.Errorf("tlsrpt: negative session count for policy domain %s", escape.Quote(r.Policy.Domain))
	}
	for i := range r.FailureDetails {
		if r.FailureDetails[i].FailedSessionCount < 0 {
			return fmt.Errorf("tlsrpt: negative failed-session-count for policy domain %s", escape.Quote(r.Policy.Domain))
		}
	}
	return nil
}

// add adds the counts of r.
func (a *aggregate) add(r *PolicyResult) {
	if a.byKey == nil {
		a.byKey = make(map[string]*policySum)
	}
	p := normalPolicy(r.Policy)
	k := policyKey(&p)
	s := a.byKey[k]
	if s == nil {
		s = &policySum{policy: p}
		a.byKey[k] = s
	}
	s.summary.TotalSuccessfulSessionCount += r.Summary.TotalSuccessfulSessionCount
	s.summary.TotalFailureSessionCount += r.Summary.TotalFailureSessionCount
	for _, d := range r.FailureDetails {
		if d.FailedSessionCount == 0 {
			continue
		}
		if s.details == nil {
			s.details = make(map[FailureDetail]int64)
		}
		s.details[detailKey(d)] += d.FailedSessionCount
	}
}

// merge adds the counts of b.
func (a *aggregate) merge(b *aggregate) {
	for _, s := range b.byKey {
		r := s.result()
		a.add(&r)
	}
}

func (a *aggregate) empty() bool { return len(a.byKey) == 0 }

// result is s as a PolicyResult with its details in report order.
func (s *policySum) result() PolicyResult {
	r := PolicyResult{Policy: clonePolicy(s.policy), Summary: s.summary}
	if len(s.details) > 0 {
		r.FailureDetails = make([]FailureDetail, 0, len(s.details))
		for d, n := range s.details {
			d.FailedSessionCount = n
			r.FailureDetails = append(r.FailureDetails, d)
		}
		slices.SortFunc(r.FailureDetails, compareDetails)
	}
	return r
}

// results returns the sums, ordered by policy domain, policy type and
// policy, each with its failure details in report order.
func (a *aggregate) results() []PolicyResult {
	out := make([]PolicyResult, 0, len(a.byKey))
	keys := make([]string, 0, len(a.byKey))
	for k := range a.byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int {
		px, py := &a.byKey[x].policy, &a.byKey[y].policy
		return cmp.Or(cmp.Compare(px.Domain, py.Domain), cmp.Compare(px.Type, py.Type), cmp.Compare(x, y))
	})
	for _, k := range keys {
		out = append(out, a.byKey[k].result())
	}
	return out
}

// isOverflow reports whether d is an overflow detail (see overflowKey).
func isOverflow(d FailureDetail) bool {
	return d.FailureReasonCode == ReasonDetailLimit && detailKey(d) == overflowKey(detailKey(d))
}

// capDetails keeps the max largest details of r, besides overflow details,
// and folds the others into overflow details (see overflowKey). It returns
// the number of failed sessions folded.
func capDetails(r *PolicyResult, max int) int64 {
	regular := 0
	for _, d := range r.FailureDetails {
		if !isOverflow(d) {
			regular++
		}
	}
	if regular <= max {
		return 0
	}
	slices.SortFunc(r.FailureDetails, compareDetails)
	out := make([]FailureDetail, 0, max+1)
	index := make(map[FailureDetail]int) // overflow details in out
	var folded int64
	kept := 0
	for _, d := range r.FailureDetails {
		var k FailureDetail
		switch {
		case isOverflow(d):
			k = overflowKey(detailKey(d))
		case kept < max:
			out = append(out, d)
			kept++
			continue
		default:
			k = overflowKey(detailKey(d))
			folded += d.FailedSessionCount
		}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, k)
		}
		out[i].FailedSessionCount += d.FailedSessionCount
	}
	slices.SortFunc(out, compareDetails)
	r.FailureDetails = out
	return folded
}
