package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/smtpsec/smtpsec/mtasts"
)

// modeOrder is the publishing order of modes: testing first, to see with
// TLS-RPT what would fail, then enforce; none (opting out, RFC 8461 §8.3)
// last.
var modeOrder = map[mtasts.Mode]int{mtasts.ModeTesting: 0, mtasts.ModeEnforce: 1, mtasts.ModeNone: 2}

// publishingOrder returns the sites in the order to publish them: by
// mode (testing, enforce, none), then as configured.
func publishingOrder(sites []site) []site {
	sorted := slices.Clone(sites)
	slices.SortStableFunc(sorted, func(a, b site) int {
		return cmp.Compare(modeOrder[a.policy.Mode], modeOrder[b.policy.Mode])
	})
	return sorted
}

// printPlan writes the records to publish and the order to publish them
// in, as a zone-file fragment whose comments explain each step.
func printPlan(w io.Writer, sites []site) {
	sites = publishingOrder(sites)
	fmt.Fprintf(w, "; MTA-STS policy host for %d domains. Publish in this order (RFC 8461 §8.1):\n", len(sites))
	fmt.Fprintln(w, "; first the policies (step 1), then the TXT records announcing them (step 2),")
	fmt.Fprintln(w, "; domains in mode testing before those in mode enforce.")
	fmt.Fprintln(w, ";")
	fmt.Fprintln(w, "; Step 1: serve the policies with this program. Point each name below at it")
	fmt.Fprintln(w, "; (A/AAAA or CNAME) and give it a certificate valid for all of them.")
	for _, s := range sites {
		fmt.Fprintf(w, ";   https://mta-sts.%s/.well-known/mta-sts.txt (id %s):\n", s.domain, s.id)
		for _, line := range strings.SplitAfter(s.policy.String(), "\r\n") {
			if line != "" {
				fmt.Fprintf(w, ";     %s\n", strings.TrimSuffix(line, "\r\n"))
			}
		}
	}
	fmt.Fprintln(w, ";")
	fmt.Fprintln(w, "; Step 2: once step 1 answers, publish these records.")
	for _, s := range sites {
		fmt.Fprintln(w)
		switch s.policy.Mode {
		case mtasts.ModeTesting:
			fmt.Fprintf(w, "; %s, mode testing: senders report failures (TLS-RPT) but deliver anyway.\n", s.domain)
		case mtasts.ModeEnforce:
			fmt.Fprintf(w, "; %s, mode enforce: senders refuse MX hosts that fail. Publish only after a\n", s.domain)
			fmt.Fprintln(w, "; period in mode testing whose TLS-RPT reports show no failures (see examples/reportd).")
		case mtasts.ModeNone:
			fmt.Fprintf(w, "; %s, mode none: opting out (RFC 8461 §8.3). Keep serving it until every\n", s.domain)
			fmt.Fprintln(w, "; policy served before has expired (its max_age), then remove the records.")
		}
		for _, rr := range s.records {
			fmt.Fprintln(w, rr)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "; Step 3: once the records are visible, inspect each domain, for example:")
	fmt.Fprintf(w, ";   go run ./examples/check %s\n", sites[0].domain)
}

// sayRecords tells the operator that s is served now and which records to
// publish for it; condition, if not empty, says what must hold first.
func (h *host) sayRecords(s site, condition string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: serving policy id %s (mode %s); %spublish now (RFC 8461 §8.1):\n", s.domain, s.id, s.policy.Mode, condition)
	for _, rr := range s.records {
		fmt.Fprintln(&b, rr)
	}
	h.say("%s", b.String())
}

// sayRemoved tells the operator what to delete for a domain no longer
// served, and what senders do meanwhile.
func (h *host) sayRemoved(s site) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: no longer served; delete its records:\n", s.domain)
	for _, rr := range s.records {
		fmt.Fprintf(&b, "; %s\n", rr)
	}
	fmt.Fprintf(&b, "; senders that cached its policy keep applying it for up to max_age %d s; to opt out sooner, serve mode none first (RFC 8461 §8.3)\n",
		int64(s.policy.MaxAge.Seconds()))
	h.say("%s", b.String())
}
