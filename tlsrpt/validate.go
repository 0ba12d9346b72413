package tlsrpt

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// A Problem is one finding of Validate: the JSON path of the member, such
// as "policies[0].failure-details[1].sending-mta-ip", and what is wrong.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// MaxProblems is the number of problems a ValidationError lists at most;
// it counts the others, so that a report with a million bad entries gives
// an error of bounded size.
const MaxProblems = 100

// A ValidationError lists the problems Validate found, in document order:
// the first MaxProblems, and the number of the others in Omitted. Values
// from the report are quoted with at most 64 bytes each. It matches
// ErrInvalidReport.
type ValidationError struct {
	Problems []Problem
	// Omitted counts the problems found after the first MaxProblems.
	Omitted int
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("tlsrpt: invalid report: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "; and %d more", e.Omitted)
	}
	return b.String()
}

// Is makes a ValidationError match ErrInvalidReport.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidReport }

// Validate checks r against RFC 8460 §4 and returns a *ValidationError
// listing the problems (the first MaxProblems, and a count of the others),
// or nil. Its memory is bounded by the problems it lists, whatever the
// size of r. It checks:
//
//   - the required members (§4.4): organization-name, date-range with
//     start-datetime and end-datetime, contact-info, report-id, policies;
//     in each policy result policy-type, policy-domain, summary with both
//     counts; in each failure detail result-type, sending-mta-ip and
//     failed-session-count;
//   - the date range: RFC 3339 date-times in UTC (§4.4), end after start;
//   - policy-type and result-type are registered values (§4.3, §6.6);
//   - policy-string is present for sts and tlsa policies, and mx-host for
//     an sts policy whose policy-string has mx lines;
//   - policy-domain and mx-host patterns are domain names in A-labels;
//   - counts are not negative, and the failed-session-counts of a policy
//     do not add up to more than its total-failure-session-count;
//   - sending-mta-ip and receiving-ip are IP addresses (without a zone);
//   - additional-information is a URI (§4.4).
//
// For a report read by ParseReport or UnmarshalJSON, Validate also lists
// what the reader accepted leniently (a string mx-host or policy-string, a
// date-time without a time zone or not in UTC, an empty or malformed IP
// address, a missing count), so that these quirks of real senders are
// visible. SHOULD-level advice (a date range of a whole UTC day, a
// failure-reason-code with certificate-not-trusted or validation-failure)
// is not checked.
func (r *Report) Validate() error {
	// The decoder's notes come in document order; each is listed when the
	// walk reaches the value it concerns, before what the walk finds there.
	v := validator{notes: r.notes}
	v.report(r)
	v.enter(math.MaxInt32, math.MaxInt32) // the notes left
	if len(v.problems) == 0 && v.omitted == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems, Omitted: v.omitted}
}

// A validator walks a report in document order. Its findings name a
// member relative to the value being checked (the report, a policy result,
// a failure detail), and nothing is formatted for a finding past
// MaxProblems, which is only counted.
type validator struct {
	problems []Problem
	omitted  int
	notes    []note // the decoder's notes not yet listed, in document order
	noted    []note // the notes of the current value
	pol, fd  int32  // the current value
	prefix   string // its path, with a trailing ".", once built
	built    bool
}

// enter lists the notes up to the value of policy result pol and failure
// detail fd (-1 for none), which the walk is about to check, and keeps
// that value's notes, so that add does not list a problem twice.
func (v *validator) enter(pol, fd int32) {
	v.noted = v.noted[:0]
	v.pol, v.fd, v.built = pol, fd, false
	for len(v.notes) > 0 {
		n := v.notes[0]
		c := compareEntities(n.pol, n.fd, pol, fd)
		if c > 0 {
			break
		}
		if c == 0 {
			v.noted = append(v.noted, n)
		}
		if v.full() {
			v.omitted++
		} else {
			v.problems = append(v.problems, n.problem())
		}
		v.notes = v.notes[1:]
	}
}

func (v *validator) full() bool { return len(v.problems) >= MaxProblems }

// path returns the path of member in the current value.
func (v *validator) path(member string) string {
	if !v.built {
		switch {
		case v.pol < 0:
			v.prefix = ""
		case v.fd < 0:
			v.prefix = fmt.Sprintf("policies[%d].", v.pol)
		default:
			v.prefix = fmt.Sprintf("policies[%d].failure-details[%d].", v.pol, v.fd)
		}
		v.built = true
	}
	return v.prefix + member
}

// isNoted reports whether a note of the current value concerns member.
func (v *validator) isNoted(member string) bool {
	for _, n := range v.noted {
		var mid string
		switch n.ctx {
		case inDateRange:
			mid = "date-range."
		case inPolicy:
			mid = "policy."
		case inSummary:
			mid = "summary."
		}
		name := memberNames[n.name]
		if len(member) == len(mid)+len(name) && strings.HasPrefix(member, mid) && member[len(mid):] == name {
			return true
		}
	}
	return false
}

// add lists a problem of member of the current value, unless a note
// covers it.
func (v *validator) add(member, msg string) { v.addQuoted(member, msg, "", false) }

// addQuoted is add for a message followed by a quoted value.
func (v *validator) addQuoted(member, msg, val string, quote bool) {
	if v.isNoted(member) {
		return
	}
	if v.full() {
		v.omitted++
		return
	}
	if quote {
		msg += escape.Quote(val)
	}
	v.problems = append(v.problems, Problem{Path: v.path(member), Message: msg})
}

func (v *validator) required(member, value string) {
	if value == "" {
		v.add(member, "missing")
	}
}

func (v *validator) report(r *Report) {
	v.enter(-1, -1)
	v.required("organization-name", r.OrganizationName)
	start, end := r.DateRange.Start, r.DateRange.End
	for _, m := range []struct {
		path string
		zero bool
		year int
	}{
		{"date-range.start-datetime", start.IsZero(), start.UTC().Year()},
		{"date-range.end-datetime", end.IsZero(), end.UTC().Year()},
	} {
		switch {
		case m.zero:
			v.add(m.path, "missing")
		case m.year < 0 || m.year > 9999:
			v.add(m.path, "year outside 0000-9999, which RFC 3339 cannot express")
		}
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		v.add("date-range.end-datetime", "not after start-datetime")
	}
	v.required("contact-info", r.ContactInfo)
	v.required("report-id", r.ReportID)
	for i := range r.Policies {
		v.enter(int32(i), -1)
		v.policyResult(i, &r.Policies[i])
	}
}

func (v *validator) policyResult(i int, pr *PolicyResult) {
	p := &pr.Policy
	switch p.Type {
	case "":
		v.add("policy.policy-type", "missing")
	case PolicySTS, PolicyTLSA, PolicyNotFound:
	default:
		v.addQuoted("policy.policy-type", "unknown policy type ", string(p.Type), true)
	}
	if (p.Type == PolicySTS || p.Type == PolicyTLSA) && len(p.PolicyString) == 0 {
		v.add("policy.policy-string", "missing for policy type "+string(p.Type))
	}
	switch {
	case p.Domain == "":
		v.add("policy.policy-domain", "missing")
	case !isHostName(p.Domain):
		v.addQuoted("policy.policy-domain", "not a domain name in A-labels: ", p.Domain, true)
	}
	if p.Type == PolicySTS && len(p.MXHost) == 0 && hasMXLine(p.PolicyString) {
		v.add("policy.mx-host", "missing, though the policy has mx patterns")
	}
	for j, m := range p.MXHost {
		if !isMXPattern(m) {
			if v.full() {
				v.omitted++
				continue
			}
			v.addQuoted("policy.mx-host["+strconv.Itoa(j)+"]", "not an MX host pattern in A-labels: ", m, true)
		}
	}
	s := &pr.Summary
	if s.TotalSuccessfulSessionCount < 0 {
		v.add("summary.total-successful-session-count", "negative")
	}
	if s.TotalFailureSessionCount < 0 {
		v.add("summary.total-failure-session-count", "negative")
	}
	// The check of the sum belongs to the summary, listed before the
	// failure details: find it first.
	var sum int64
	for k := range pr.FailureDetails {
		if c := pr.FailureDetails[k].FailedSessionCount; c >= 0 && sum >= 0 {
			sum += c // a sum past int64 is negative and stops here
		}
	}
	if sum > s.TotalFailureSessionCount && s.TotalFailureSessionCount >= 0 {
		if v.full() {
			v.omitted++
		} else {
			v.add("summary.total-failure-session-count", fmt.Sprintf(
				"%d is less than the sum of the failed-session-counts of the failure details (%d)",
				s.TotalFailureSessionCount, sum))
		}
	}
	for k := range pr.FailureDetails {
		v.enter(int32(i), int32(k))
		v.failureDetail(&pr.FailureDetails[k])
	}
}

func (v *validator) failureDetail(f *FailureDetail) {
	switch f.ResultType {
	case "":
		v.add("result-type", "missing")
	case ResultSTARTTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
		ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid, ResultDNSSECInvalid,
		ResultDANERequired, ResultSTSPolicyFetchError, ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid:
	default:
		v.addQuoted("result-type", "unknown result type ", string(f.ResultType), true)
	}
	switch {
	case !f.SendingMTAIP.IsValid():
		v.add("sending-mta-ip", "missing")
	case f.SendingMTAIP.Zone() != "":
		v.add("sending-mta-ip", "not an IP address: "+escape.Quote(f.SendingMTAIP.String())+" has a zone")
	}
	if f.ReceivingIP.Zone() != "" {
		v.add("receiving-ip", "not an IP address: "+escape.Quote(f.ReceivingIP.String())+" has a zone")
	}
	if f.FailedSessionCount < 0 {
		v.add("failed-session-count", "negative")
	}
	if f.AdditionalInformation != "" && !isURI(f.AdditionalInformation) {
		v.addQuoted("additional-information", "not a URI: ", f.AdditionalInformation, true)
	}
}

// hasMXLine reports whether an STS policy-string has an "mx:" line.
func hasMXLine(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "mx:") {
			return true
		}
	}
	return false
}

// compareEntities orders the values that notes and problems concern in
// document order: report members first (-1, -1), then each policy result
// (pol, -1) followed by its failure details (pol, fd).
func compareEntities(pol1, fd1, pol2, fd2 int32) int {
	if pol1 != pol2 {
		return int(pol1) - int(pol2)
	}
	return int(fd1) - int(fd2)
}
