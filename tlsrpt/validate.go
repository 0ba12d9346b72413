package tlsrpt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Problem is one finding of Validate: the JSON path of the member, such
// as "policies[0].failure-details[1].sending-mta-ip", and what is wrong.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// A ValidationError lists every problem Validate found, in document order.
// It matches ErrInvalidReport.
type ValidationError struct {
	Problems []Problem
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
	return b.String()
}

// Is makes a ValidationError match ErrInvalidReport.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidReport }

// Validate checks r against RFC 8460 §4 and returns a *ValidationError
// listing every problem, or nil. It checks:
//
//   - the required members (§4.4): organization-name, date-range with
//     start-datetime and end-datetime, contact-info, report-id, policies;
//     in each policy result policy-type, policy-domain, summary with both
//     counts; in each failure detail result-type, sending-mta-ip and
//     failed-session-count;
//   - the date range: RFC 3339 date-times in UTC (§4.4), end after start;
//   - policy-type and result-type are registered values (§4.3, §6.6);
//   - policy-string is present for sts and tlsa policies (except for an sts
//     policy that counts only fetch failures, §4.3.2.2: no policy was
//     applied), and mx-host for an sts policy whose policy-string has mx
//     lines;
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
// visible. Sender.Send, Post, Message and Outbox.Enqueue check the same
// rules without those notes: the report they write is strict whatever its
// input was. SHOULD-level advice (a date range of a whole UTC day, a
// failure-reason-code with certificate-not-trusted or validation-failure)
// is not checked.
func (r *Report) Validate() error { return r.validate(r.notes) }

// validateWritten is Validate without what the decoder read leniently: the
// check of a report about to be written, which MarshalJSON writes strictly
// whatever quirks its input had. Send, Post, Message and Enqueue use it.
func (r *Report) validateWritten() error { return r.validate(nil) }

func (r *Report) validate(notes []Problem) error {
	v := validator{noted: make(map[string]bool, len(notes))}
	for _, n := range notes {
		v.problems = append(v.problems, n)
		v.noted[n.Path] = true
	}
	v.report(r)
	if len(v.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(v.problems, func(a, b Problem) int { return comparePaths(a.Path, b.Path) })
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	problems []Problem
	noted    map[string]bool // paths with a note from the decoder
}

func (v *validator) add(path, msg string) {
	if !v.noted[path] {
		v.problems = append(v.problems, Problem{Path: path, Message: msg})
	}
}

func (v *validator) required(path, value string) {
	if value == "" {
		v.add(path, "missing")
	}
}

func (v *validator) report(r *Report) {
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
		v.policyResult(fmt.Sprintf("policies[%d]", i), &r.Policies[i])
	}
}

func (v *validator) policyResult(prefix string, pr *PolicyResult) {
	p := &pr.Policy
	pp := prefix + ".policy."
	switch p.Type {
	case "":
		v.add(pp+"policy-type", "missing")
	case PolicySTS, PolicyTLSA, PolicyNotFound:
	default:
		v.add(pp+"policy-type", fmt.Sprintf("unknown policy type %q", p.Type))
	}
	if (p.Type == PolicySTS || p.Type == PolicyTLSA) && len(p.PolicyString) == 0 && !fetchFailuresOnly(pr) {
		v.add(pp+"policy-string", "missing for policy type "+string(p.Type))
	}
	switch {
	case p.Domain == "":
		v.add(pp+"policy-domain", "missing")
	case !isHostName(p.Domain):
		v.add(pp+"policy-domain", fmt.Sprintf("not a domain name in A-labels: %q", p.Domain))
	}
	if p.Type == PolicySTS && len(p.MXHost) == 0 && hasMXLine(p.PolicyString) {
		v.add(pp+"mx-host", "missing, though the policy has mx patterns")
	}
	for j, m := range p.MXHost {
		if !isMXPattern(m) {
			v.add(fmt.Sprintf("%smx-host[%d]", pp, j), fmt.Sprintf("not an MX host pattern in A-labels: %q", m))
		}
	}
	s := &pr.Summary
	sp := prefix + ".summary."
	if s.TotalSuccessfulSessionCount < 0 {
		v.add(sp+"total-successful-session-count", "negative")
	}
	if s.TotalFailureSessionCount < 0 {
		v.add(sp+"total-failure-session-count", "negative")
	}
	var sum int64
	for k := range pr.FailureDetails {
		f := &pr.FailureDetails[k]
		fp := fmt.Sprintf("%s.failure-details[%d].", prefix, k)
		switch f.ResultType {
		case "":
			v.add(fp+"result-type", "missing")
		case ResultSTARTTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
			ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid, ResultDNSSECInvalid,
			ResultDANERequired, ResultSTSPolicyFetchError, ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid:
		default:
			v.add(fp+"result-type", fmt.Sprintf("unknown result type %q", f.ResultType))
		}
		switch {
		case !f.SendingMTAIP.IsValid():
			v.add(fp+"sending-mta-ip", "missing")
		case f.SendingMTAIP.Zone() != "":
			v.add(fp+"sending-mta-ip", fmt.Sprintf("not an IP address: %q has a zone", f.SendingMTAIP))
		}
		if f.ReceivingIP.Zone() != "" {
			v.add(fp+"receiving-ip", fmt.Sprintf("not an IP address: %q has a zone", f.ReceivingIP))
		}
		if f.FailedSessionCount < 0 {
			v.add(fp+"failed-session-count", "negative")
		} else if sum >= 0 {
			sum += f.FailedSessionCount
		}
		if f.AdditionalInformation != "" && !isURI(f.AdditionalInformation) {
			v.add(fp+"additional-information", fmt.Sprintf("not a URI: %q", f.AdditionalInformation))
		}
	}
	if sum > s.TotalFailureSessionCount && s.TotalFailureSessionCount >= 0 {
		v.add(sp+"total-failure-session-count", fmt.Sprintf(
			"%d is less than the sum of the failed-session-counts of the failure details (%d)",
			s.TotalFailureSessionCount, sum))
	}
}

// fetchFailuresOnly reports whether pr counts only sessions to a domain
// whose MTA-STS policy could not be fetched (RFC 8460 §4.3.2.2): there is
// then no applied policy whose policy-string a report could give.
func fetchFailuresOnly(pr *PolicyResult) bool {
	if pr.Policy.Type != PolicySTS || pr.Summary.TotalSuccessfulSessionCount != 0 || len(pr.FailureDetails) == 0 {
		return false
	}
	for i := range pr.FailureDetails {
		if !isFetchFailure(pr.FailureDetails[i].ResultType) {
			return false
		}
	}
	return true
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

// comparePaths orders JSON paths by the policy result and failure detail
// they belong to, so that findings come in document order: report members
// first, then each policy result followed by its failure details.
func comparePaths(a, b string) int {
	pa, fa := pathIndex(a, "policies["), pathIndex(a, "failure-details[")
	pb, fb := pathIndex(b, "policies["), pathIndex(b, "failure-details[")
	if pa != pb {
		return pa - pb
	}
	return fa - fb
}

// pathIndex returns the index after prefix in path p, or -1.
func pathIndex(p, prefix string) int {
	i := strings.Index(p, prefix)
	if i < 0 {
		return -1
	}
	p = p[i+len(prefix):]
	end := strings.IndexByte(p, ']')
	if end < 0 {
		return -1
	}
	k, err := strconv.Atoi(p[:end])
	if err != nil {
		return -1
	}
	return k
}
