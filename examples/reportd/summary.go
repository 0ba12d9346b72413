package main

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Caps on what the aggregate keeps, whatever the reports say: the
// memory of the summary is bounded by the number of stored reports
// (-max-reports) times these, not by the size of the reports.
const (
	// maxKept is the length of a string (a name, a host, an id) kept
	// from a report; longer ones are cut (and shown with "...").
	maxKept = 300
	// maxGroups is the number of distinct failure groups (MX host,
	// sending MTA, result type) kept per domain, period and mode; the
	// sessions of further groups are counted under "(other)".
	maxGroups = 500
	// maxReporters is the number of distinct reporters kept per domain
	// and period; further ones are counted as "(other reporters)".
	maxReporters = 100
	// maxDomainsShown, maxRows and maxRecent bound a summary response:
	// the domains (most sessions first), the rows of each table, and the
	// reports most recently received.
	maxDomainsShown = 200
	maxRows         = 10
	maxRecent       = 50
	maxPeriods      = 100 // per domain, the latest
	// chartDays is the span of the dashboard's chart.
	chartDays = 30
	// other names what the caps lump together.
	other = "(other)"
)

// aggregate adds up the stored reports per policy domain and reporting
// period (RFC 8460 §4.1). It is safe for concurrent use; snapshot
// computes a summary under a read lock and nothing is written to a
// client while any lock is held.
type aggregate struct {
	minReporters int

	mu         sync.RWMutex
	periods    map[periodKey]*period
	reports    map[uint64]*reportInfo // by store sequence number
	unreadable int
}

func newAggregate(minReporters int) *aggregate {
	return &aggregate{minReporters: minReporters, periods: map[periodKey]*period{}, reports: map[uint64]*reportInfo{}}
}

// periodKey is a policy domain and the first and last UTC day of a
// report's date range.
type periodKey struct {
	domain      string
	first, last string // yyyy-mm-dd
}

// period is what the reports say about one domain and period.
type period struct {
	modes     map[string]*modeCounts
	reporters map[reporterKey]*reporterCount
}

// reporterKey is a reporting organisation (its organization-name, which
// nothing authenticates) and the mode of the policy it applied.
type reporterKey struct{ name, mode string }

type reporterCount struct {
	display    string // the organization-name as written
	reports    int
	ok, failed int64
}

// modeCounts are the sessions under policies of one mode.
type modeCounts struct {
	ok, failed int64
	detailed   int64 // the sum of the failure details' counts
	groups     map[failureGroup]int64
}

// failureGroup is what a failure detail says went wrong, where.
type failureGroup struct {
	mx, sender string
	result     string
}

// reportInfo is what the dashboard lists of one stored report, with the
// findings of Validate.
type reportInfo struct {
	seq          uint64
	Received     time.Time `json:"received"`
	Organization string    `json:"organization"`
	ReportID     string    `json:"report_id"`
	Domains      []string  `json:"domains"`
	First        string    `json:"first_day"`
	Last         string    `json:"last_day"`
	Successful   int64     `json:"successful"`
	Failed       int64     `json:"failed"`
	Findings     []string  `json:"findings,omitempty"`
}

// short returns a copy of s cut to at most maxKept bytes on a UTF-8
// boundary, the cut marked with "...", which does not pin the text s was
// decoded from. It is for display: de-duplication uses the whole id.
func short(s string) string {
	if len(s) <= maxKept {
		return strings.Clone(s)
	}
	n := maxKept - 3
	for n > maxKept-6 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..." // the concatenation copies
}

// policyDomain returns the policy domain of pr, lower case, without the
// trailing dot.
func policyDomain(pr *tlsrpt.PolicyResult) string {
	return strings.ToLower(strings.TrimSuffix(pr.Policy.Domain, "."))
}

// add counts the report r (a copy made by keep, whose counts check has
// validated) stored with sequence number info.seq.
func (a *aggregate) add(info *reportInfo, r *tlsrpt.Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports[info.seq] = info
	reporter := short(strings.TrimSpace(r.OrganizationName))
	if reporter == "" {
		reporter = "(unknown)"
	}
	touched := map[reporterCountRef]bool{}
	for i := range r.Policies {
		pr := &r.Policies[i]
		k := periodKey{domain: short(policyDomain(pr)), first: info.First, last: info.Last}
		p := a.periods[k]
		if p == nil {
			p = &period{modes: map[string]*modeCounts{}, reporters: map[reporterKey]*reporterCount{}}
			a.periods[k] = p
		}
		mode := policyMode(pr.Policy)
		m := p.modes[mode]
		if m == nil {
			m = &modeCounts{groups: map[failureGroup]int64{}}
			p.modes[mode] = m
		}
		m.ok = addSat(m.ok, pr.Summary.TotalSuccessfulSessionCount)
		m.failed = addSat(m.failed, pr.Summary.TotalFailureSessionCount)
		for _, d := range pr.FailureDetails {
			m.detailed = addSat(m.detailed, d.FailedSessionCount)
			g := failureGroup{orUnknown(short(d.ReceivingMXHostname)), orUnknown(addrString(d.SendingMTAIP)), orUnknown(short(string(d.ResultType)))}
			if _, ok := m.groups[g]; !ok && len(m.groups) >= maxGroups {
				g = failureGroup{other, other, other}
			}
			m.groups[g] = addSat(m.groups[g], d.FailedSessionCount)
		}
		rk := reporterKey{strings.ToLower(reporter), mode}
		rc := p.reporters[rk]
		if rc == nil {
			if len(p.reporters) >= maxReporters {
				rk = reporterKey{"(other reporters)", mode}
				rc = p.reporters[rk]
			}
			if rc == nil {
				rc = &reporterCount{display: rk.name}
				if rk.name != "(other reporters)" {
					rc.display = reporter
				}
				p.reporters[rk] = rc
			}
		}
		rc.ok = addSat(rc.ok, pr.Summary.TotalSuccessfulSessionCount)
		rc.failed = addSat(rc.failed, pr.Summary.TotalFailureSessionCount)
		if ref := (reporterCountRef{k, rk}); !touched[ref] {
			touched[ref] = true
			rc.reports++
		}
	}
}

// reporterCountRef names one reporterCount, to count each report once.
type reporterCountRef struct {
	period   periodKey
	reporter reporterKey
}

// addUnreadable counts a stored file that does not decode any more.
func (a *aggregate) addUnreadable() {
	a.mu.Lock()
	a.unreadable++
	a.mu.Unlock()
}

// prune forgets the periods and reports that end before cutoff.
func (a *aggregate) prune(cutoff string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	maps.DeleteFunc(a.periods, func(k periodKey, _ *period) bool { return k.last < cutoff })
	maps.DeleteFunc(a.reports, func(_ uint64, r *reportInfo) bool { return r.Last < cutoff })
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

// policyMode returns the mode of the policy a sender applied: the value
// of the "mode:" line of an sts policy-string (RFC 8461 §3.2), "unknown"
// for an sts policy without one, "none" for no-policy-found and "other"
// for any other policy type (DANE's tlsa).
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
			switch v = strings.TrimSpace(v); v {
			case "testing", "enforce", "none":
				return v
			}
			return "unknown"
		}
	}
	return "unknown"
}

// summary is the state of the receiver for the dashboard, GET
// /api/summary and the text printed at exit: bounded in size whatever
// the reports say.
type summary struct {
	Reports         int             `json:"stored_reports"`
	Bytes           int64           `json:"stored_bytes"`
	Unreadable      int             `json:"unreadable_files,omitempty"`
	Domains         []domainSummary `json:"domains"`
	DomainsNotShown int             `json:"domains_not_shown,omitempty"`
	Recent          []*reportInfo   `json:"recent_reports"`
}

// domainSummary is what the reports say about one policy domain.
type domainSummary struct {
	Domain   string          `json:"domain"`
	Verdict  verdict         `json:"verdict"`
	Chart    []dayCount      `json:"last_30_days"`
	Sessions int64           `json:"sessions"`
	Failed   int64           `json:"failed"`
	ByResult []count         `json:"failures_by_result_type"`
	BySender []count         `json:"failures_by_sending_mta"`
	ByMX     []count         `json:"failures_by_mx_host"`
	Periods  []periodSummary `json:"periods"`
	// PeriodsNotShown counts the earlier periods left out of Periods
	// (they still count in the verdict, the chart and the tables).
	PeriodsNotShown int `json:"periods_not_shown,omitempty"`
}

// dayCount is one day of the chart: the sessions of the reports whose
// period begins that day.
type dayCount struct {
	Day        string `json:"day"`
	Successful int64  `json:"successful"`
	Failed     int64  `json:"failed"`
}

// count is one row of a table: a name and its sessions.
type count struct {
	Name     string `json:"name"`
	Sessions int64  `json:"sessions"`
}

// periodSummary is one domain and reporting period.
type periodSummary struct {
	First      string  `json:"first_day"`
	Last       string  `json:"last_day"`
	Reporters  []count `json:"reporters"` // Sessions holds the reports
	Successful int64   `json:"successful"`
	Failed     int64   `json:"failed"`
	Detailed   int64   `json:"detailed"`
	ByResult   []count `json:"failures_by_result_type,omitempty"`
	BySender   []count `json:"failures_by_sending_mta,omitempty"`
	ByMX       []count `json:"failures_by_mx_host,omitempty"`
	MoreRows   bool    `json:"more_rows,omitempty"`
}

// snapshot computes the summary, with the chart ending on the UTC day of
// now, and the store's usage.
func (a *aggregate) snapshot(now time.Time, reports int, bytes int64) *summary {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := &summary{Reports: reports, Bytes: bytes, Unreadable: a.unreadable, Domains: []domainSummary{}, Recent: []*reportInfo{}}

	byDomain := map[string][]periodKey{}
	for k := range a.periods {
		byDomain[k.domain] = append(byDomain[k.domain], k)
	}
	for domain, keys := range byDomain {
		slices.SortFunc(keys, func(a, b periodKey) int { return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.last, b.last)) })
		s.Domains = append(s.Domains, a.domain(domain, keys, now))
	}
	slices.SortFunc(s.Domains, func(a, b domainSummary) int {
		return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(a.Domain, b.Domain))
	})
	if len(s.Domains) > maxDomainsShown {
		s.DomainsNotShown = len(s.Domains) - maxDomainsShown
		s.Domains = s.Domains[:maxDomainsShown]
	}
	slices.SortFunc(s.Domains, func(a, b domainSummary) int { return cmp.Compare(a.Domain, b.Domain) })

	seqs := slices.Sorted(maps.Keys(a.reports))
	for i := len(seqs) - 1; i >= 0 && len(s.Recent) < maxRecent; i-- {
		s.Recent = append(s.Recent, a.reports[seqs[i]])
	}
	return s
}

// domain summarises the periods keys of one domain.
func (a *aggregate) domain(domain string, keys []periodKey, now time.Time) domainSummary {
	d := domainSummary{Domain: domain}
	today := now.UTC().Truncate(24 * time.Hour)
	chart := map[string]*dayCount{}
	for i := chartDays - 1; i >= 0; i-- {
		day := today.AddDate(0, 0, -i).Format(time.DateOnly)
		d.Chart = append(d.Chart, dayCount{Day: day})
	}
	for i := range d.Chart {
		chart[d.Chart[i].Day] = &d.Chart[i]
	}
	modes := map[string]*modeCounts{}
	reporters := map[reporterKey]*reporterCount{}
	dayset := map[string]bool{}
	byResult, bySender, byMX := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, k := range keys {
		p := a.periods[k]
		dayset[k.first] = true
		all := &modeCounts{groups: map[failureGroup]int64{}}
		for mode, m := range p.modes {
			mergeInto(all, m)
			if modes[mode] == nil {
				modes[mode] = &modeCounts{groups: map[failureGroup]int64{}}
			}
			mergeInto(modes[mode], m)
		}
		for rk, rc := range p.reporters {
			if reporters[rk] == nil {
				reporters[rk] = &reporterCount{display: rc.display}
			}
			reporters[rk].display = min(reporters[rk].display, rc.display)
			reporters[rk].reports += rc.reports
			reporters[rk].ok = addSat(reporters[rk].ok, rc.ok)
			reporters[rk].failed = addSat(reporters[rk].failed, rc.failed)
		}
		ps := periodSummary{First: k.first, Last: k.last, Successful: all.ok, Failed: all.failed, Detailed: all.detailed}
		names := map[string]int64{}
		for _, rc := range p.reporters {
			names[rc.display] += int64(rc.reports)
		}
		ps.Reporters = top(names, maxReporters)
		pr, psnd, pmx := all.tables()
		ps.ByResult, ps.BySender, ps.ByMX = top(pr, maxRows), top(psnd, maxRows), top(pmx, maxRows)
		ps.MoreRows = len(pr) > maxRows || len(psnd) > maxRows || len(pmx) > maxRows
		d.Periods = append(d.Periods, ps)
		for name, n := range pr {
			byResult[name] = addSat(byResult[name], n)
		}
		for name, n := range psnd {
			bySender[name] = addSat(bySender[name], n)
		}
		for name, n := range pmx {
			byMX[name] = addSat(byMX[name], n)
		}
		d.Sessions = addSat(d.Sessions, addSat(all.ok, all.failed))
		d.Failed = addSat(d.Failed, all.failed)
		if c := chart[k.first]; c != nil {
			c.Successful = addSat(c.Successful, all.ok)
			c.Failed = addSat(c.Failed, all.failed)
		}
	}
	d.ByResult, d.BySender, d.ByMX = top(byResult, maxRows), top(bySender, maxRows), top(byMX, maxRows)
	if len(d.Periods) > maxPeriods {
		d.PeriodsNotShown = len(d.Periods) - maxPeriods
		d.Periods = d.Periods[d.PeriodsNotShown:]
	}
	d.Verdict = judge(modes, reporters, len(dayset), a.minReporters)
	return d
}

// tables returns the failed sessions of m by result type, sending MTA
// and MX host.
func (m *modeCounts) tables() (byResult, bySender, byMX map[string]int64) {
	byResult, bySender, byMX = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for g, n := range m.groups {
		byResult[g.result] = addSat(byResult[g.result], n)
		bySender[g.sender] = addSat(bySender[g.sender], n)
		byMX[g.mx] = addSat(byMX[g.mx], n)
	}
	return byResult, bySender, byMX
}

// mergeInto adds b to a.
func mergeInto(a, b *modeCounts) {
	a.ok = addSat(a.ok, b.ok)
	a.failed = addSat(a.failed, b.failed)
	a.detailed = addSat(a.detailed, b.detailed)
	for g, n := range b.groups {
		a.groups[g] = addSat(a.groups[g], n)
	}
}

// addSat adds two counts that check has bounded, saturating instead of
// overflowing should a sum ever reach the int64 range.
func addSat(a, b int64) int64 {
	if s := a + b; s >= a == (b >= 0) {
		return s
	}
	if b > 0 {
		return 1<<63 - 1
	}
	return -1 << 63
}

// top returns the n largest entries of m, largest first, then by name.
func top(m map[string]int64, n int) []count {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	out := make([]count, 0, min(n, len(keys)))
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, count{k, m[k]})
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
