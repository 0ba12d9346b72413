package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// writeText prints the summary for a terminal: per domain and period the
// sessions and failures, then each domain's enforce-readiness verdict
// with its evidence. Every string taken from a report goes through
// escape.Text.
func writeText(w io.Writer, s *summary) {
	e := escape.Text
	if len(s.Domains) == 0 {
		fmt.Fprintln(w, "no reports")
		return
	}
	for _, d := range s.Domains {
		if d.PeriodsNotShown > 0 {
			fmt.Fprintf(w, "(%s: %d earlier periods not shown)\n", e(d.Domain), d.PeriodsNotShown)
		}
		for _, p := range d.Periods {
			when := p.First
			if p.Last != p.First {
				when += " to " + p.Last
			}
			reporters := make([]string, len(p.Reporters))
			for i, r := range p.Reporters {
				reporters[i] = fmt.Sprintf("%s (%d)", e(r.Name), r.Sessions)
			}
			fmt.Fprintf(w, "%s  %s  reported by %s\n", when, e(d.Domain), strings.Join(reporters, ", "))
			fmt.Fprintf(w, "  sessions: %d (%d successful, %d failed)\n", addSat(p.Successful, p.Failed), p.Successful, p.Failed)
			if p.Failed == 0 && p.Detailed == 0 {
				continue
			}
			writeCounts(w, "failures by result type", p.ByResult)
			writeCounts(w, "failures by sending MTA", p.BySender)
			writeCounts(w, "failures by receiving MX", p.ByMX)
			switch {
			case p.Detailed < p.Failed:
				fmt.Fprintf(w, "  (%d failed sessions come without details)\n", p.Failed-p.Detailed)
			case p.Detailed > p.Failed:
				fmt.Fprintf(w, "  (the failure details add up to %d, more than the %d failed sessions: a reporter's error)\n", p.Detailed, p.Failed)
			}
		}
	}
	if s.DomainsNotShown > 0 {
		fmt.Fprintf(w, "(%d more domains not shown)\n", s.DomainsNotShown)
	}
	fmt.Fprintln(w, "\nenforce readiness (RFC 8461 §5: can mode testing become mode enforce?)")
	for _, d := range s.Domains {
		v := d.Verdict
		fmt.Fprintf(w, "  %s: %s: %s\n", e(d.Domain), v.Status, v.Reason)
		for _, b := range v.Blocking {
			fmt.Fprintf(w, "    MX %s, sending MTA %s: %s, %s\n", e(b.MX), e(b.SendingMTA), e(b.ResultType), plural(b.Sessions, "session"))
		}
		if v.BlockingNotShown > 0 {
			fmt.Fprintf(w, "    ... and %d more groups\n", v.BlockingNotShown)
		}
		if v.WithoutDetails > 0 {
			fmt.Fprintf(w, "    %s without details\n", plural(v.WithoutDetails, "failed session"))
		}
		evidence := make([]string, len(v.Reporters))
		for i, r := range v.Reporters {
			evidence[i] = fmt.Sprintf("%s (%s, %s, %d%%)", e(r.Name), r.Mode, plural(int64(r.Reports), "report"), r.Percent)
		}
		fmt.Fprintf(w, "    evidence: %s\n", strings.Join(evidence, "; "))
	}
	header := "\nfindings of the recent reports (RFC 8460 §4.4)"
	for _, r := range s.Recent {
		if len(r.Findings) > 0 && header != "" {
			fmt.Fprintln(w, header)
			header = ""
		}
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  report %s from %s: %s\n", e(r.ReportID), e(r.Organization), e(f))
		}
	}
}

// writeCounts prints the rows of a table, largest first.
func writeCounts(w io.Writer, title string, rows []count) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for _, r := range rows {
		fmt.Fprintf(w, "    %-40s %d\n", escape.Text(r.Name), r.Sessions)
	}
}
