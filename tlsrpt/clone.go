package tlsrpt

import "strings"

// Clone returns a deep copy of r whose strings and slices own their
// memory, with the decoder's findings, so that Validate on the copy lists
// what it lists on r.
//
// The strings of a report read by ParseReport, Decoder, ParseMessage,
// UnmarshalJSON or a Handler are substrings of the decompressed JSON text
// (up to MaxReportSize, 50 MiB): keeping any one of them, such as
// OrganizationName as a map key, keeps the whole text alive. Clone copies
// just the strings, into one allocation, so its result costs about what
// its values hold:
//
//   - use the decoded report as it is to look at it and drop it (count
//     sessions, validate, write it to a file or database);
//   - use r.Clone() for what outlives the call that decoded it: a report
//     kept in memory, or a string of it kept in a map. A Handler's Report
//     function keeps r.Clone(), not r.
func (r *Report) Clone() *Report {
	if r == nil {
		return nil
	}
	// The slices: one allocation for each kind of element.
	out := *r
	var nstrs, nfds int
	for i := range r.Policies {
		p := &r.Policies[i]
		nstrs += len(p.Policy.PolicyString) + len(p.Policy.MXHost)
		nfds += len(p.FailureDetails)
	}
	strs := make([]string, 0, nstrs)
	fds := make([]FailureDetail, 0, nfds)
	if r.Policies != nil {
		out.Policies = make([]PolicyResult, len(r.Policies))
	}
	for i := range r.Policies {
		p, q := &r.Policies[i], &out.Policies[i]
		*q = *p
		q.Policy.PolicyString, strs = appendOwn(strs, p.Policy.PolicyString)
		q.Policy.MXHost, strs = appendOwn(strs, p.Policy.MXHost)
		if p.FailureDetails != nil {
			start := len(fds)
			fds = append(fds, p.FailureDetails...)
			q.FailureDetails = fds[start:len(fds):len(fds)]
		}
	}
	if r.notes != nil {
		out.notes = append([]note(nil), r.notes...)
	}
	// The strings: one buffer, sliced.
	n := 0
	out.eachString(func(s string) string { n += len(s); return s })
	var b strings.Builder
	b.Grow(n)
	out.eachString(func(s string) string { b.WriteString(s); return s })
	buf, off := b.String(), 0
	out.eachString(func(s string) string {
		t := buf[off : off+len(s)]
		off += len(s)
		return t
	})
	return &out
}

// appendOwn appends ss to pool and returns the appended part (nil for nil)
// and the pool.
func appendOwn(pool, ss []string) ([]string, []string) {
	if ss == nil {
		return nil, pool
	}
	start := len(pool)
	pool = append(pool, ss...)
	return pool[start:len(pool):len(pool)], pool
}

// eachString replaces every string of r, in a fixed order, by f of it.
func (r *Report) eachString(f func(string) string) {
	r.OrganizationName = f(r.OrganizationName)
	r.ContactInfo = f(r.ContactInfo)
	r.ReportID = f(r.ReportID)
	for i := range r.Policies {
		p := &r.Policies[i]
		p.Policy.Type = PolicyType(f(string(p.Policy.Type)))
		p.Policy.Domain = f(p.Policy.Domain)
		for j := range p.Policy.PolicyString {
			p.Policy.PolicyString[j] = f(p.Policy.PolicyString[j])
		}
		for j := range p.Policy.MXHost {
			p.Policy.MXHost[j] = f(p.Policy.MXHost[j])
		}
		for j := range p.FailureDetails {
			d := &p.FailureDetails[j]
			d.ResultType = ResultType(f(string(d.ResultType)))
			d.ReceivingMXHostname = f(d.ReceivingMXHostname)
			d.ReceivingMXHelo = f(d.ReceivingMXHelo)
			d.AdditionalInformation = f(d.AdditionalInformation)
			d.FailureReasonCode = f(d.FailureReasonCode)
		}
	}
	for i := range r.notes {
		r.notes[i].val = f(r.notes[i].val)
	}
}
