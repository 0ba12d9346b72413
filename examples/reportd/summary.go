package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// summary adds up the reports received, per policy domain and reporting
// period (normally one UTC day, RFC 8460 §4.1). It is safe for concurrent
// use.
type summary struct {
	mu      sync.Mutex
	seen    map[string]bool // organization-name and report-id of each report
	periods map[periodKey]*period
	domains map[string]*readiness
}

func newSummary() *summary {
	return &summary{seen: map[string]bool{}, periods: map[periodKey]*period{}, domains: map[string]*readiness{}}
}

// periodKey is a policy domain and the first and last UTC day of a report.
type periodKey struct {
	first, last string // yyyy-mm-dd
	domain      string
}

// period is what the reports say about one domain and period.
type period struct {
	reporters map[string]int // organization-name -> reports
	ok        int64
	failed    int64
	detailed  int64 // the sum of the failure details' counts
	byResult  map[string]int64
	bySender  map[string]int64
	byMX      map[string]int64
}

// add counts r, unless a report of the same organization and id has been
// counted already (the same report may come by email and by HTTPS). It
// reports whether r was new.
func (s *summary) add(r *tlsrpt.Report) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.OrganizationName + "\x00" + r.ReportID
	if s.seen[id] {
		return false
	}
	s.seen[id] = true
	first, last := days(r.DateRange)
	touched := map[*period]bool{}
	for _, pr := range r.Policies {
		domain := strings.ToLower(strings.TrimSuffix(pr.Policy.Domain, "."))
		if domain == "" {
			domain = "(no policy-domain)"
		}
		k := periodKey{first, last, domain}
		p := s.periods[k]
		if p == nil {
			p = &period{reporters: map[string]int{}, byResult: map[string]int64{}, bySender: map[string]int64{}, byMX: map[string]int64{}}
			s.periods[k] = p
		}
		touched[p] = true
		p.ok += pr.Summary.TotalSuccessfulSessionCount
		p.failed += pr.Summary.TotalFailureSessionCount
		for _, d := range pr.FailureDetails {
			p.detailed += d.FailedSessionCount
			p.byResult[string(d.ResultType)] += d.FailedSessionCount
			p.bySender[orUnknown(addrString(d.SendingMTAIP))] += d.FailedSessionCount
			p.byMX[orUnknown(d.ReceivingMXHostname)] += d.FailedSessionCount
		}
		rd := s.domains[domain]
		if rd == nil {
			rd = newReadiness(domain)
			s.domains[domain] = rd
		}
		rd.add(pr, first)
	}
	for p := range touched {
		p.reporters[r.OrganizationName]++
	}
	return true
}

// days returns the first and last UTC day a date range covers. An end at
// 00:00:00 (the 24:00 of §4.1, as Mail.ru writes it) belongs to the day
// before.
func days(dr tlsrpt.DateRange) (first, last string) {
	start, end := dr.Start.UTC(), dr.End.UTC()
	if end.After(start) {
		end = end.Add(-time.Nanosecond)
	}
	return start.Format(time.DateOnly), end.Format(time.DateOnly)
}

// write prints the per-period summary followed by the enforce-readiness
// verdict of each domain.
func (s *summary) write(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.periods) == 0 {
		fmt.Fprintln(w, "no reports")
		return
	}
	keys := slices.SortedFunc(maps.Keys(s.periods), func(a, b periodKey) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.last, b.last), cmp.Compare(a.domain, b.domain))
	})
	for _, k := range keys {
		p := s.periods[k]
		when := k.first
		if k.last != k.first {
			when += " to " + k.last
		}
		reporters := slices.Sorted(maps.Keys(p.reporters))
		for i, r := range reporters {
			reporters[i] = fmt.Sprintf("%s (%d)", orUnknown(r), p.reporters[r])
		}
		fmt.Fprintf(w, "%s  %s  reported by %s\n", when, k.domain, strings.Join(reporters, ", "))
		fmt.Fprintf(w, "  sessions: %d (%d successful, %d failed)\n", p.ok+p.failed, p.ok, p.failed)
		if p.failed == 0 && p.detailed == 0 {
			continue
		}
		writeCounts(w, "failures by result type", p.byResult)
		writeCounts(w, "failures by sending MTA", p.bySender)
		writeCounts(w, "failures by receiving MX", p.byMX)
		switch {
		case p.detailed < p.failed:
			fmt.Fprintf(w, "  (%d failed sessions come without details)\n", p.failed-p.detailed)
		case p.detailed > p.failed:
			fmt.Fprintf(w, "  (the failure details add up to %d, more than the %d failed sessions: a reporter's error)\n", p.detailed, p.failed)
		}
	}
	fmt.Fprintln(w, "\nenforce readiness (RFC 8461 §5: can mode testing become mode enforce?)")
	for _, d := range slices.Sorted(maps.Keys(s.domains)) {
		s.domains[d].write(w)
	}
}

// writeCounts prints the counts of m, largest first.
func writeCounts(w io.Writer, title string, m map[string]int64) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for _, k := range byCount(m) {
		fmt.Fprintf(w, "    %-40s %d\n", k, m[k])
	}
}

// byCount returns the keys of m, largest count first, then by name.
func byCount[K cmp.Ordered](m map[K]int64) []K {
	return slices.SortedFunc(maps.Keys(m), func(a, b K) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
