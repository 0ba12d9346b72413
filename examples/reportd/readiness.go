package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// maxBlockers is the number of blocking failure groups a verdict lists.
const maxBlockers = 10

// The verdicts of the enforce-readiness judgement.
const (
	statusReady    = "READY"
	statusNotReady = "NOT READY"
	statusEnforced = "ENFORCED"
	statusUnknown  = "UNKNOWN MODE"
	statusNoPolicy = "NO POLICY"
)

// verdict says whether a domain's MTA-STS policy can move from mode
// testing to mode enforce (RFC 8461 §5): under enforce, every session
// that failed under testing would be a message not delivered to that MX
// host. It carries its evidence: the sessions per mode, per reporter and
// the failure groups that block.
type verdict struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Days   int    `json:"days"`
	// Modes counts the sessions by the mode of the policy applied.
	Modes []modeEvidence `json:"modes"`
	// Reporters is how much the verdict rests on each reporter (reports
	// over HTTPS are unauthenticated, RFC 8460 §5.4).
	Reporters []reporterEvidence `json:"reporters"`
	// Blocking lists the failure groups, largest first.
	Blocking         []blocker `json:"blocking,omitempty"`
	BlockingNotShown int       `json:"blocking_not_shown,omitempty"`
	WithoutDetails   int64     `json:"failed_without_details,omitempty"`
}

type modeEvidence struct {
	Mode       string `json:"mode"`
	Successful int64  `json:"successful"`
	Failed     int64  `json:"failed"`
}

type reporterEvidence struct {
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Reports    int    `json:"reports"`
	Successful int64  `json:"successful"`
	Failed     int64  `json:"failed"`
	Percent    int64  `json:"percent_of_sessions"`
}

type blocker struct {
	MX         string `json:"mx_host"`
	SendingMTA string `json:"sending_mta"`
	ResultType string `json:"result_type"`
	Sessions   int64  `json:"sessions"`
}

// judge gives the verdict of a domain from its sessions by mode, by
// reporter, over days days:
//
//   - READY: sessions under mode testing, none failed, from at least
//     minReporters reporters: a single reporter, whose reports nothing
//     authenticates, never makes a domain READY on its own;
//   - NOT READY: some sessions failed under mode testing (the failure
//     groups that block, largest first), or the evidence comes from too
//     few reporters;
//   - ENFORCED: the policy is already in mode enforce (failed sessions,
//     if any, are mail that was not delivered to that MX);
//   - UNKNOWN MODE: the reporters applied an MTA-STS policy but did not
//     say its mode (no policy-string): not evidence for either;
//   - NO POLICY: the senders found no MTA-STS policy.
//
// Failures under a policy of unknown mode block along with those under
// testing or enforce; its successes are no evidence of readiness.
func judge(modes map[string]*modeCounts, reporters map[reporterKey]*reporterCount, days, minReporters int) verdict {
	get := func(mode string) *modeCounts {
		if m := modes[mode]; m != nil {
			return m
		}
		return &modeCounts{groups: map[failureGroup]int64{}}
	}
	v := verdict{Days: days}
	var total int64
	for _, mode := range slices.Sorted(maps.Keys(modes)) {
		m := modes[mode]
		v.Modes = append(v.Modes, modeEvidence{mode, m.ok, m.failed})
		total = addSat(total, addSat(m.ok, m.failed))
	}
	for rk, rc := range reporters {
		pct := int64(0)
		if total > 0 {
			pct = int64(float64(addSat(rc.ok, rc.failed)) * 100 / float64(total))
		}
		v.Reporters = append(v.Reporters, reporterEvidence{rc.display, rk.mode, rc.reports, rc.ok, rc.failed, pct})
	}
	slices.SortFunc(v.Reporters, func(a, b reporterEvidence) int {
		return cmp.Or(cmp.Compare(b.Successful+b.Failed, a.Successful+a.Failed), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Mode, b.Mode))
	})
	if len(v.Reporters) > maxReporters {
		v.Reporters = v.Reporters[:maxReporters]
	}

	testing, enforce, unknown := get("testing"), get("enforce"), get("unknown")
	span := plural(int64(days), "day")
	var m *modeCounts
	switch {
	case testing.ok+testing.failed > 0:
		m = merged(testing, unknown)
		if m.failed == 0 && m.detailed == 0 {
			n := testingReporters(reporters)
			if n < minReporters {
				v.Status = statusNotReady
				v.Reason = fmt.Sprintf("%s under mode testing over %s, none failed, but from %s; reports are unauthenticated (RFC 8460 §5.4): wait for reports from %d reporters",
					plural(testing.ok, "session"), span, plural(int64(n), "reporter"), minReporters)
				return v
			}
			v.Status = statusReady
			v.Reason = fmt.Sprintf("%s under mode testing over %s from %d reporters, none failed; publish mode enforce (the policy file first, then the new TXT id, RFC 8461 §8.1)",
				plural(testing.ok, "session"), span, n)
			return v
		}
		v.Status = statusNotReady
		v.Reason = fmt.Sprintf("%d of %d sessions failed under mode testing over %s; under enforce, mail would not be delivered to a failing MX host",
			m.failed, addSat(m.ok, m.failed), span)
	case enforce.ok+enforce.failed > 0:
		m = merged(enforce, unknown)
		v.Status = statusEnforced
		if m.failed == 0 && m.detailed == 0 {
			v.Reason = fmt.Sprintf("already in mode enforce; %s over %s, none failed", plural(m.ok, "session"), span)
			return v
		}
		v.Reason = fmt.Sprintf("already in mode enforce; %d of %d sessions over %s failed (mail not delivered to that MX host)", m.failed, addSat(m.ok, m.failed), span)
	case unknown.ok+unknown.failed > 0:
		m = unknown
		v.Status = statusUnknown
		v.Reason = fmt.Sprintf("%s under an MTA-STS policy whose mode the reporters did not say (no policy-string); neither testing nor enforce can be told", plural(addSat(m.ok, m.failed), "session"))
	default:
		m = merged(get("none"), get("other"))
		v.Status = statusNoPolicy
		v.Reason = fmt.Sprintf("senders found no MTA-STS policy in %s over %s; publish one in mode testing first", plural(addSat(m.ok, m.failed), "session"), span)
	}
	v.Blocking, v.BlockingNotShown = m.blockers()
	if m.detailed < m.failed {
		v.WithoutDetails = m.failed - m.detailed
	}
	return v
}

// testingReporters counts the reporters with sessions under mode testing.
func testingReporters(reporters map[reporterKey]*reporterCount) int {
	n := 0
	for rk, rc := range reporters {
		if rk.mode == "testing" && rc.ok+rc.failed > 0 && rk.name != "(other reporters)" {
			n++
		}
	}
	return n
}

// merged returns the sum of a and b.
func merged(a, b *modeCounts) *modeCounts {
	m := &modeCounts{groups: map[failureGroup]int64{}}
	mergeInto(m, a)
	mergeInto(m, b)
	return m
}

// blockers returns the largest maxBlockers failure groups and how many
// more there are.
func (m *modeCounts) blockers() ([]blocker, int) {
	var out []blocker
	for g, n := range m.groups {
		out = append(out, blocker{g.mx, g.sender, g.result, n})
	}
	slices.SortFunc(out, func(a, b blocker) int {
		return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(a.MX, b.MX), cmp.Compare(a.SendingMTA, b.SendingMTA), cmp.Compare(a.ResultType, b.ResultType))
	})
	if len(out) > maxBlockers {
		return out[:maxBlockers], len(out) - maxBlockers
	}
	return out, 0
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
