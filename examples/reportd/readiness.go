package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// maxBlockers is the number of blocking failure groups a verdict lists.
const maxBlockers = 10

// readiness gathers what the reports say about one policy domain, to
// judge whether its MTA-STS policy can move from mode testing to mode
// enforce (RFC 8461 §5): under enforce, every session that failed under
// testing would be a message not delivered to that MX host.
type readiness struct {
	domain string
	days   map[string]bool
	// Sessions by the mode of the policy the senders applied. "unknown"
	// is an sts policy whose reporter sent no policy-string (Mail.ru,
	// Google at times); "none" is no-policy-found or mode none; "other"
	// is any other policy type (DANE's tlsa).
	modes map[string]*modeCounts
}

// modeCounts are the sessions under policies of one mode.
type modeCounts struct {
	ok, failed int64
	detailed   int64
	groups     map[failureGroup]int64
}

// failureGroup is what a failure detail says went wrong, where.
type failureGroup struct {
	mx, sender string
	result     tlsrpt.ResultType
}

func newReadiness(domain string) *readiness {
	return &readiness{domain: domain, days: map[string]bool{}, modes: map[string]*modeCounts{}}
}

// add counts one policy result of a report whose period begins on day.
func (r *readiness) add(pr tlsrpt.PolicyResult, day string) {
	r.days[day] = true
	mode := policyMode(pr.Policy)
	m := r.modes[mode]
	if m == nil {
		m = &modeCounts{groups: map[failureGroup]int64{}}
		r.modes[mode] = m
	}
	m.ok += pr.Summary.TotalSuccessfulSessionCount
	m.failed += pr.Summary.TotalFailureSessionCount
	for _, d := range pr.FailureDetails {
		m.detailed += d.FailedSessionCount
		m.groups[failureGroup{orUnknown(d.ReceivingMXHostname), orUnknown(addrString(d.SendingMTAIP)), d.ResultType}] += d.FailedSessionCount
	}
}

// policyMode returns the mode of the policy a sender applied: the value
// of the "mode:" line of an sts policy-string (RFC 8461 §3.2).
func policyMode(p tlsrpt.AppliedPolicy) string {
	switch p.Type {
	case tlsrpt.PolicySTS:
	case tlsrpt.PolicyNotFound:
		return "none"
	default:
		return "other"
	}
	for _, line := range p.PolicyString {
		if v, ok := strings.CutPrefix(line, "mode:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// write prints the verdict:
//
//   - READY: sessions under mode testing, none failed;
//   - NOT READY: some failed under mode testing; the failure groups that
//     block, largest first (receiving MX, sending MTA, result type);
//   - ENFORCED: the policy is already in mode enforce (failed sessions,
//     if any, are mail that was not delivered to that MX);
//   - NO POLICY: the senders found no MTA-STS policy.
//
// Sessions under an sts policy of unknown mode count with testing when
// the domain was seen in testing, else with enforce.
func (r *readiness) write(w io.Writer) {
	get := func(mode string) *modeCounts {
		if m := r.modes[mode]; m != nil {
			return m
		}
		return &modeCounts{groups: map[failureGroup]int64{}}
	}
	testing, enforce, unknown := get("testing"), get("enforce"), get("unknown")
	days := len(r.days)
	switch {
	case testing.ok+testing.failed > 0 || (unknown.ok+unknown.failed > 0 && enforce.ok+enforce.failed == 0):
		m := merge(testing, unknown)
		if m.failed == 0 && m.detailed == 0 {
			fmt.Fprintf(w, "  %s: READY: %d sessions under mode testing over %s, none failed; publish mode enforce (the policy file first, then the new TXT id, RFC 8461 §8.1)\n",
				r.domain, m.ok, plural(days, "day"))
			return
		}
		fmt.Fprintf(w, "  %s: NOT READY: %d of %d sessions failed under mode testing over %s; under enforce, mail would not be delivered to a failing MX host. Blocking:\n",
			r.domain, m.failed, m.ok+m.failed, plural(days, "day"))
		m.writeGroups(w)
	case enforce.ok+enforce.failed > 0:
		m := merge(enforce, unknown)
		if m.failed == 0 && m.detailed == 0 {
			fmt.Fprintf(w, "  %s: ENFORCED: already in mode enforce; %d sessions over %s, none failed\n", r.domain, m.ok, plural(days, "day"))
			return
		}
		fmt.Fprintf(w, "  %s: ENFORCED: already in mode enforce; %d of %d sessions over %s failed (mail not delivered to that MX host):\n",
			r.domain, m.failed, m.ok+m.failed, plural(days, "day"))
		m.writeGroups(w)
	default:
		m := merge(get("none"), get("other"))
		m = merge(m, get(""))
		fmt.Fprintf(w, "  %s: NO POLICY: senders found no MTA-STS policy in %d sessions over %s; publish one in mode testing first\n",
			r.domain, m.ok+m.failed, plural(days, "day"))
		if m.failed > 0 || m.detailed > 0 {
			fmt.Fprintln(w, "    failures that mode testing would report too:")
			m.writeGroups(w)
		}
	}
}

// merge returns the sum of a and b.
func merge(a, b *modeCounts) *modeCounts {
	m := &modeCounts{ok: a.ok + b.ok, failed: a.failed + b.failed, detailed: a.detailed + b.detailed, groups: map[failureGroup]int64{}}
	for _, x := range []*modeCounts{a, b} {
		for g, n := range x.groups {
			m.groups[g] += n
		}
	}
	return m
}

// writeGroups lists the failure groups, largest first.
func (m *modeCounts) writeGroups(w io.Writer) {
	keys := make(map[string]int64, len(m.groups))
	byKey := map[string]failureGroup{}
	for g, n := range m.groups {
		k := fmt.Sprintf("%s|%s|%s", g.mx, g.sender, g.result)
		keys[k], byKey[k] = n, g
	}
	for i, k := range byCount(keys) {
		if i == maxBlockers {
			fmt.Fprintf(w, "    ... and %d more groups\n", len(keys)-maxBlockers)
			break
		}
		g := byKey[k]
		fmt.Fprintf(w, "    MX %s, sending MTA %s: %s, %s\n", g.mx, g.sender, g.result, plural(int(keys[k]), "session"))
	}
	if m.detailed < m.failed {
		fmt.Fprintf(w, "    %s without details\n", plural(int(m.failed-m.detailed), "failed session"))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
