package tlsrpt

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// This file holds the report decoder: one pass over the JSON text with the
// scanner of jsonscan.go, specialised for the RFC 8460 §4.4 schema.
// Strings without escapes are substrings of the text (no copy); unknown
// members are checked for syntax and skipped without allocating; the
// tolerated deviations of real senders are recorded as notes, which
// Validate reports.
//
// Memory is bounded by construction: arrays grow by doubling (a slice grown
// by append allocates about five times its final size), every array counts
// against a limit of the report, a note holds indices rather than a
// formatted path, and an object notes at most one duplicate per member.

// Contexts of the decoder, used to build JSON paths for notes and errors.
const (
	inReport = iota
	inDateRange
	inPolicyResult
	inPolicy
	inSummary
	inDetail
)

// limits holds the count limits of a decode (Decoder.counts).
type limits struct {
	policies, details, strings int
}

// decoder holds the state of one decodeReport call.
type decoder struct {
	s     string
	i     int
	depth int
	notes []note
	lim   limits

	ctx int // one of the in* contexts
	pol int // index in policies
	fd  int // index in failure-details

	details int // failure details so far, all policies
	nstrs   int // policy-string and mx-host elements so far

	strs []string        // scratch for string arrays
	fds  []FailureDetail // scratch for failure details
}

// decodeReport decodes the JSON text s into r, which must be zero.
func decodeReport(s string, r *Report, lim limits) error {
	d := decoder{s: s, lim: lim}
	d.ws()
	if err := d.report(r); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.s) {
		return d.syntaxErr(fmt.Sprintf("invalid character %s after top-level value", quoteChar(d.s[d.i])))
	}
	// Notes in document order of the values they concern, as Validate
	// lists them; the decoder meets report members after the policies.
	slices.SortStableFunc(d.notes, func(a, b note) int { return compareEntities(a.pol, a.fd, b.pol, b.fd) })
	r.notes = d.notes
	return nil
}

// A note records one lenient reading, for Validate. It holds the value it
// concerns and where it is, not a formatted message, so that a report with
// many notes costs little; Problem formats it.
type note struct {
	pol, fd int32  // the policy result and failure detail; -1 when outside one
	ctx     uint8  // the decoder context, for the path
	kind    uint8  // one of the note* kinds
	name    uint8  // the member: an index in memberNames
	val     string // the value, for the kinds that quote it
}

// The kinds of notes, indices into noteMessages.
const (
	noteMissing = iota
	noteDuplicate
	noteStringArray
	noteEmptyIP
	noteNotIP
	noteNoZone
	noteNotUTC
)

// noteMessages holds the message of each kind of note; %s stands for the
// quoted value.
var noteMessages = [...]string{
	noteMissing:     "missing",
	noteDuplicate:   "duplicate member; the last one counts",
	noteStringArray: "a string, not an array of strings; read as an array of one",
	noteEmptyIP:     "empty string, not an IP address",
	noteNotIP:       "not an IP address: %s",
	noteNoZone:      "date-time %s has no time zone; read as UTC",
	noteNotUTC:      "date-time %s is not in UTC",
}

// problem formats n as Validate lists it.
func (n note) problem() Problem {
	msg := strings.Replace(noteMessages[n.kind], "%s", escape.Quote(n.val), 1)
	return Problem{Path: pathOf(int(n.ctx), int(n.pol), int(n.fd), memberNames[n.name]), Message: msg}
}

// entity returns the policy result and failure detail indices of context
// ctx, -1 for none.
func entity(ctx, pol, fd int) (int32, int32) {
	switch ctx {
	case inReport, inDateRange:
		return -1, -1
	case inDetail:
		return int32(pol), int32(fd)
	}
	return int32(pol), -1
}

// pathOf returns the JSON path of member name in context ctx of policy
// result pol and failure detail fd.
func pathOf(ctx, pol, fd int, name string) string {
	var p string
	switch ctx {
	case inReport:
		return name
	case inDateRange:
		p = "date-range"
	case inPolicyResult:
		p = fmt.Sprintf("policies[%d]", pol)
	case inPolicy:
		p = fmt.Sprintf("policies[%d].policy", pol)
	case inSummary:
		p = fmt.Sprintf("policies[%d].summary", pol)
	case inDetail:
		p = fmt.Sprintf("policies[%d].failure-details[%d]", pol, fd)
	}
	if name == "" {
		return p
	}
	return p + "." + name
}

// path returns the JSON path of member name in the current context.
func (d *decoder) path(name string) string { return pathOf(d.ctx, d.pol, d.fd, name) }

// note records a lenient reading of member name (one of memberNames) in
// the current context; val is the value for kinds that quote it.
func (d *decoder) note(name string, kind uint8, val string) {
	var k uint8
	for i, m := range memberNames {
		if m == name {
			k = uint8(i)
			break
		}
	}
	pol, fd := entity(d.ctx, d.pol, d.fd)
	d.notes = append(grow(d.notes), note{pol: pol, fd: fd, ctx: uint8(d.ctx), kind: kind, name: k, val: val})
}

// memberNames lists the members of the §4.4 schema that notes name; ""
// (the value itself) first.
var memberNames = [...]string{
	"", "organization-name", "contact-info", "report-id", "date-range", "policies",
	"start-datetime", "end-datetime",
	"policy", "summary", "failure-details",
	"policy-type", "policy-string", "policy-domain", "mx-host",
	"total-successful-session-count", "total-failure-session-count",
	"result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
	"receiving-ip", "failed-session-count", "additional-information", "failure-reason-code",
}

// grow returns s with room for one more element, doubling its capacity:
// growing a slice to n elements so allocates less than 4n elements in all.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	g := make([]T, len(s), max(2*cap(s), 4))
	copy(g, s)
	return g
}

// typeErr reports a value of the wrong type for member name at the current
// position.
func (d *decoder) typeErr(name, want string) error {
	return d.errAt(d.i, d.path(name), fmt.Sprintf("expected %s, found %s", want, d.kind()))
}

// beginObject consumes '{' after checking the value is an object; null
// (absent) returns ok false.
func (d *decoder) beginObject(name string) (ok bool, err error) {
	if d.i >= len(d.s) {
		return false, d.eof()
	}
	switch d.s[d.i] {
	case '{':
		d.depth++
		if d.depth > maxDepth {
			return false, d.syntaxErr("exceeded max depth")
		}
		d.i++
		return true, nil
	case 'n':
		return false, d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return false, err
	}
	return false, d.typeErr(name, "an object")
}

// beginArray is beginObject for arrays.
func (d *decoder) beginArray(name string) (ok bool, err error) {
	if d.i >= len(d.s) {
		return false, d.eof()
	}
	switch d.s[d.i] {
	case '[':
		d.depth++
		if d.depth > maxDepth {
			return false, d.syntaxErr("exceeded max depth")
		}
		d.i++
		return true, nil
	case 'n':
		return false, d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return false, err
	}
	return false, d.typeErr(name, "an array")
}

// stringValue reads a string member; null leaves dst unchanged.
func (d *decoder) stringValue(name string, dst *string) error {
	switch d.s[d.i] {
	case '"':
		v, err := d.str()
		*dst = v
		return err
	case 'n':
		return d.literal("null")
	}
	if err := d.checkValue(); err != nil {
		return err
	}
	return d.typeErr(name, "a string")
}

// stringArray reads an array of strings. A single string is accepted as an
// array of one (a tolerated deviation, noted); null and [] give nil.
func (d *decoder) stringArray(name string) ([]string, error) {
	if d.s[d.i] == '"' {
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		if err := d.countString(name); err != nil {
			return nil, err
		}
		d.note(name, noteStringArray, "")
		return []string{v}, nil
	}
	ok, err := d.beginArray(name)
	if !ok || err != nil {
		return nil, err
	}
	d.strs = d.strs[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if d.s[d.i] != '"' {
			if err := d.checkValue(); err != nil {
				return nil, err
			}
			return nil, d.typeErr(name, "a string")
		}
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		if err := d.countString(name); err != nil {
			return nil, err
		}
		d.strs = append(grow(d.strs), v)
	}
	if len(d.strs) == 0 {
		return nil, nil
	}
	return slices.Clone(d.strs), nil
}

// countString counts a policy-string or mx-host element against the limit
// of the report.
func (d *decoder) countString(name string) error {
	if d.nstrs++; d.nstrs > d.lim.strings {
		return &LimitError{Limit: "policy strings", Max: int64(d.lim.strings), Path: d.path(name)}
	}
	return nil
}

// ip reads an IP address member. The empty string and strings that are not
// IP addresses are noted and leave the address zero.
func (d *decoder) ip(name string, dst *netip.Addr) error {
	if d.s[d.i] != '"' {
		var v string
		return d.stringValue(name, &v) // null, or a type error
	}
	v, err := d.str()
	if err != nil {
		return err
	}
	if v == "" {
		d.note(name, noteEmptyIP, "")
		return nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		d.note(name, noteNotIP, v)
		return nil
	}
	*dst = a
	return nil
}

// dateTime reads an RFC 3339 date-time member, converted to UTC. A
// date-time without a time zone is read as UTC and noted; an offset other
// than zero is converted and noted.
func (d *decoder) dateTime(name string, dst *time.Time) error {
	if d.s[d.i] != '"' {
		var v string
		return d.stringValue(name, &v) // null, or a type error
	}
	start := d.i
	// The longest date-time that means anything,
	// "2024-03-01T00:00:00.123456789+00:00", has 35 bytes (digits past the
	// nanoseconds are dropped): a longer JSON string is not decoded.
	if end := d.stringEnd(start + 1); end-start-1 > maxDateTimeLen {
		return d.errAt(start, d.path(name), "not an RFC 3339 date-time: "+escape.Quote(d.s[start+1:end]))
	}
	v, err := d.str()
	if err != nil {
		return err
	}
	t, zone, ok := parseDateTime(v)
	if !ok {
		return d.errAt(start, d.path(name), "not an RFC 3339 date-time: "+escape.Quote(v))
	}
	switch zone {
	case zoneNone:
		d.note(name, noteNoZone, v)
	case zoneOffset:
		d.note(name, noteNotUTC, v)
	}
	*dst = t
	return nil
}

// Bits of the members seen in an object, for required members whose
// absence a zero value does not show.
const (
	seenPolicies = 1 << iota
	seenSuccess
	seenFailure
	seenSummary
	seenCount
)

func (d *decoder) report(r *Report) error {
	if d.i < len(d.s) && d.s[d.i] != '{' {
		if err := d.checkValue(); err != nil {
			return err
		}
		return d.syntaxErr("a report must be a JSON object, found " + d.kind())
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		switch name {
		case "organization-name":
			d.once(&dup, 1, name)
			err = d.stringValue(name, &r.OrganizationName)
		case "contact-info":
			d.once(&dup, 2, name)
			err = d.stringValue(name, &r.ContactInfo)
		case "report-id":
			d.once(&dup, 4, name)
			err = d.stringValue(name, &r.ReportID)
		case "date-range":
			d.once(&dup, 8, name)
			err = d.dateRange(&r.DateRange)
		case "policies":
			d.once(&dup, 16, name)
			if d.s[d.i] != 'n' {
				seen |= seenPolicies
			}
			err = d.policies(r)
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	if seen&seenPolicies == 0 {
		d.note("policies", noteMissing, "")
	}
	return nil
}

func (d *decoder) dateRange(dr *DateRange) error {
	ok, err := d.beginObject("date-range")
	if !ok || err != nil {
		return err
	}
	d.ctx = inDateRange
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		switch name {
		case "start-datetime":
			d.once(&dup, 1, name)
			err = d.dateTime(name, &dr.Start)
		case "end-datetime":
			d.once(&dup, 2, name)
			err = d.dateTime(name, &dr.End)
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	d.ctx = inReport
	return nil
}

func (d *decoder) policies(r *Report) error {
	ok, err := d.beginArray("policies")
	if !ok || err != nil {
		return err
	}
	r.Policies = r.Policies[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if len(r.Policies) >= d.lim.policies {
			return &LimitError{Limit: "MaxPolicies", Max: int64(d.lim.policies), Path: "policies"}
		}
		r.Policies = append(grow(r.Policies), PolicyResult{})
		d.pol = len(r.Policies) - 1
		d.ctx = inPolicyResult
		if err := d.policyResult(&r.Policies[d.pol]); err != nil {
			return err
		}
		d.ctx = inReport
	}
	if len(r.Policies) == 0 {
		r.Policies = nil
	}
	return nil
}

func (d *decoder) policyResult(pr *PolicyResult) error {
	if d.s[d.i] == 'n' {
		return d.typeErr("", "an object")
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		switch name {
		case "policy":
			d.once(&dup, 1, name)
			err = d.policy(&pr.Policy)
		case "summary":
			d.once(&dup, 2, name)
			if d.s[d.i] != 'n' {
				seen |= seenSummary
			}
			err = d.summary(&pr.Summary)
		case "failure-details":
			d.once(&dup, 4, name)
			err = d.failureDetails(pr)
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	if seen&seenSummary == 0 {
		d.note("summary", noteMissing, "")
	}
	return nil
}

func (d *decoder) policy(p *AppliedPolicy) error {
	ok, err := d.beginObject("policy")
	if !ok || err != nil {
		return err
	}
	d.ctx = inPolicy
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		switch name {
		case "policy-type":
			d.once(&dup, 1, name)
			var v string
			err = d.stringValue(name, &v)
			p.Type = PolicyType(v)
		case "policy-string":
			d.once(&dup, 2, name)
			p.PolicyString, err = d.stringArray(name)
		case "policy-domain":
			d.once(&dup, 4, name)
			err = d.stringValue(name, &p.Domain)
		case "mx-host":
			d.once(&dup, 8, name)
			p.MXHost, err = d.stringArray(name)
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	d.ctx = inPolicyResult
	return nil
}

func (d *decoder) summary(s *Summary) error {
	ok, err := d.beginObject("summary")
	if !ok || err != nil {
		return err
	}
	d.ctx = inSummary
	var seen int
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		var got bool
		switch name {
		case "total-successful-session-count":
			d.once(&dup, 1, name)
			s.TotalSuccessfulSessionCount, got, err = d.countInto(name, s.TotalSuccessfulSessionCount)
			if got {
				seen |= seenSuccess
			}
		case "total-failure-session-count":
			d.once(&dup, 2, name)
			s.TotalFailureSessionCount, got, err = d.countInto(name, s.TotalFailureSessionCount)
			if got {
				seen |= seenFailure
			}
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	if seen&seenSuccess == 0 {
		d.note("total-successful-session-count", noteMissing, "")
	}
	if seen&seenFailure == 0 {
		d.note("total-failure-session-count", noteMissing, "")
	}
	d.ctx = inPolicyResult
	return nil
}

// members calls member with the name of each member of the object whose
// '{' was just consumed, up to and including its '}'; member reads the
// value (or skips it) and its error ends the object.
func (d *decoder) members(member func(name string) error) error {
	for first := true; ; first = false {
		name, more, err := d.member(first, true)
		if err != nil || !more {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
	}
}

// once notes a member seen twice in an object (I-JSON, RFC 7493 §2.3,
// requires unique names); bit (at most 1<<7) identifies the member in
// seen. Only the first duplicate of an object is noted, so that an object
// repeating members a million times gets one note.
func (d *decoder) once(seen *uint16, bit uint16, name string) {
	const noted = 1 << 15
	if *seen&bit != 0 && *seen&noted == 0 {
		d.note(name, noteDuplicate, "")
		*seen |= noted
	}
	*seen |= bit
}

// countInto reads a count; null keeps old.
func (d *decoder) countInto(name string, old int64) (int64, bool, error) {
	n, ok, err := d.count(name)
	if !ok {
		return old, false, err
	}
	return n, true, err
}

func (d *decoder) failureDetails(pr *PolicyResult) error {
	ok, err := d.beginArray("failure-details")
	if !ok || err != nil {
		if err == nil {
			pr.FailureDetails = nil
		}
		return err
	}
	d.fds = d.fds[:0]
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if d.details++; d.details > d.lim.details {
			return &LimitError{Limit: "MaxFailureDetails", Max: int64(d.lim.details), Path: pathOf(inPolicyResult, d.pol, 0, "failure-details")}
		}
		d.fds = append(grow(d.fds), FailureDetail{})
		d.fd = len(d.fds) - 1
		d.ctx = inDetail
		if err := d.failureDetail(&d.fds[d.fd]); err != nil {
			return err
		}
		d.ctx = inPolicyResult
	}
	switch n := len(d.fds); {
	case n == 0:
		pr.FailureDetails = nil
	case cap(d.fds)-n <= n/4:
		// Little room to spare: hand the scratch over rather than copy it.
		pr.FailureDetails = d.fds[:n:n]
		d.fds = nil
	default:
		pr.FailureDetails = slices.Clone(d.fds)
	}
	return nil
}

func (d *decoder) failureDetail(f *FailureDetail) error {
	if d.s[d.i] == 'n' {
		return d.typeErr("", "an object")
	}
	if _, err := d.beginObject(""); err != nil {
		return err
	}
	var seen int
	var dup uint16 // members seen, to note duplicates
	if err := d.members(func(name string) (err error) {
		switch name {
		case "result-type":
			d.once(&dup, 1, name)
			var v string
			err = d.stringValue(name, &v)
			f.ResultType = ResultType(v)
		case "sending-mta-ip":
			d.once(&dup, 2, name)
			err = d.ip(name, &f.SendingMTAIP)
		case "receiving-mx-hostname":
			d.once(&dup, 4, name)
			err = d.stringValue(name, &f.ReceivingMXHostname)
		case "receiving-mx-helo":
			d.once(&dup, 8, name)
			err = d.stringValue(name, &f.ReceivingMXHelo)
		case "receiving-ip":
			d.once(&dup, 16, name)
			err = d.ip(name, &f.ReceivingIP)
		case "failed-session-count":
			d.once(&dup, 32, name)
			var got bool
			f.FailedSessionCount, got, err = d.countInto(name, f.FailedSessionCount)
			if got {
				seen |= seenCount
			}
		case "additional-information":
			d.once(&dup, 64, name)
			err = d.stringValue(name, &f.AdditionalInformation)
		case "failure-reason-code":
			d.once(&dup, 128, name)
			err = d.stringValue(name, &f.FailureReasonCode)
		default:
			err = d.skipValue()
		}
		return err
	}); err != nil {
		return err
	}
	if seen&seenCount == 0 {
		d.note("failed-session-count", noteMissing, "")
	}
	return nil
}

// maxDateTimeLen caps the JSON text of a date-time that is decoded.
const maxDateTimeLen = 64

// How a date-time gave its time zone.
const (
	zoneUTC    = iota // Z, +00:00 or -00:00
	zoneOffset        // another offset
	zoneNone          // none: a real-world deviation, read as UTC
)

// parseDateTime parses an RFC 3339 date-time (§5.6; "T" and "Z" in either
// case), or the same without a time zone, and returns it in UTC.
func parseDateTime(s string) (t time.Time, zone int, ok bool) {
	// YYYY-MM-DDTHH:MM:SS
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			if j <= 9 {
				nsec = nsec*10 + int(rest[j]-'0')
			}
			j++
		}
		if j == 1 {
			return time.Time{}, 0, false
		}
		// Digits past nanoseconds are dropped, as time.Parse does.
		for k := j; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[j:]
	}
	var offset int
	switch {
	case rest == "":
		zone = zoneNone
	case rest == "Z" || rest == "z":
		zone = zoneUTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
		if offset != 0 {
			zone = zoneOffset
		}
	default:
		return time.Time{}, 0, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, zone, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// UnmarshalJSON decodes a report like ParseReport, without size limits
// (the caller has the bytes already) and without gzip, but with the count
// limits of a zero Decoder (DefaultMaxPolicies and
// DefaultMaxReportFailureDetails). It replaces the
// whole of *r. The JSON literal null leaves r unchanged, as encoding/json
// expects of unmarshalers.
func (r *Report) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var rep Report
	var d Decoder
	if err := decodeReport(string(data), &rep, d.counts()); err != nil {
		return err
	}
	*r = rep
	return nil
}
