package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// maxCount bounds every session count of a report: 2^40, some hundred
// times the mail the world sends in a day. With at most -max-reports
// reports (below 2^20) no sum of counts can overflow an int64.
const maxCount = 1 << 40

// maxFuture is how far in the future a report's period may end (clock
// skew): a later end would stay on the dashboard past any retention.
const maxFuture = 48 * time.Hour

// maxFindings is the number of Validate findings kept per report.
const maxFindings = 5

// errNotReport is matched by the reasons a body or file is refused as
// not being a usable report (400 Bad Request).
var errNotReport = errors.New("not a TLS report")

// rejectError is a reason to refuse a report; it matches errNotReport.
type rejectError struct{ reason string }

func (e *rejectError) Error() string        { return e.reason }
func (e *rejectError) Is(target error) bool { return target == errNotReport }

func reject(format string, args ...any) error {
	return &rejectError{reason: fmt.Sprintf(format, args...)}
}

// intake turns received bytes into stored, counted reports; the HTTP
// handler and the files given as arguments both go through it.
type intake struct {
	store   *store
	agg     *aggregate
	decoder tlsrpt.Decoder
	domains map[string]bool // policy domains served; nil means any
	now     func() time.Time
	// retentionDays, when not zero, refuses reports that ended before
	// the retention (they would be deleted at once).
	retentionDays int
}

// cutoff returns the first UTC day within the retention.
func (in *intake) cutoff() string {
	return in.now().UTC().AddDate(0, 0, -in.retentionDays).Format(time.DateOnly)
}

// outcome is what intake did with a report.
type outcome struct {
	info      *reportInfo
	duplicate bool
}

// decode reads raw as a report, choosing the format from the content:
// gzip (by its magic bytes) or a JSON object, and, when email is true
// (files), an email message (RFC 8460 §5.3).
func (in *intake) decode(raw []byte, email bool) (*tlsrpt.Report, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, reject("empty body: a report is a JSON object (application/tlsrpt+json) or its gzip (application/tlsrpt+gzip)")
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) || trimmed[0] == '{':
		return in.decoder.Decode(bytes.NewReader(raw))
	case email:
		return tlsrpt.ParseMessage(bytes.NewReader(raw))
	}
	return nil, reject("neither gzip nor a JSON object (the body begins %s)", escape.Quote(string(raw[:min(len(raw), 16)])))
}

// prepare decodes raw and checks it (the served domains too, when
// served is set), and returns the kept copy of the report and what the
// dashboard lists of it.
func (in *intake) prepare(raw []byte, email, served bool) (*tlsrpt.Report, *reportInfo, error) {
	r, err := in.decode(raw, email)
	if err != nil {
		return nil, nil, err
	}
	if err := in.check(r, served); err != nil {
		return nil, nil, err
	}
	var findings []string
	var ve *tlsrpt.ValidationError
	if err := r.Validate(); errors.As(err, &ve) {
		for i, p := range ve.Problems {
			if i == maxFindings {
				findings = append(findings, fmt.Sprintf("and %d more", len(ve.Problems)-maxFindings))
				break
			}
			findings = append(findings, short(p.String()))
		}
	}
	r = r.Clone() // the summary must not pin the decoded text
	first, last := days(r.DateRange)
	info := &reportInfo{Organization: short(r.OrganizationName), ReportID: short(r.ReportID), First: first, Last: last, Findings: findings}
	for i := range r.Policies {
		pr := &r.Policies[i]
		if d := short(policyDomain(pr)); !slices.Contains(info.Domains, d) && len(info.Domains) < maxRows {
			info.Domains = append(info.Domains, d)
		}
		info.Successful = addSat(info.Successful, pr.Summary.TotalSuccessfulSessionCount)
		info.Failed = addSat(info.Failed, pr.Summary.TotalFailureSessionCount)
	}
	return r, info, nil
}

// take decodes, checks, stores and counts one report. A report refused
// as unusable is an error matching errNotReport; a copy already stored
// returns an outcome with duplicate set.
func (in *intake) take(raw []byte, email bool) (outcome, error) {
	r, info, err := in.prepare(raw, email, true)
	if err != nil {
		return outcome{}, err
	}
	if in.retentionDays > 0 && info.Last < in.cutoff() {
		return outcome{}, reject("the report's period ended on %s, before the retention of %d days", info.Last, in.retentionDays)
	}
	seq, received, err := in.store.put(raw, r.OrganizationName, r.ReportID, info.Last, in.now())
	if errors.Is(err, errDuplicate) {
		return outcome{info: info, duplicate: true}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	info.seq, info.Received = seq, received
	in.agg.add(info, r)
	return outcome{info: info}, nil
}

// load reads the reports of the data directory into the aggregate, in
// the order they were received, and returns the number of files that
// could not be read as reports (left in place for the operator).
func (in *intake) load(logf func(format string, args ...any)) (int, error) {
	names, err := in.store.list()
	if err != nil {
		return 0, err
	}
	// What was stored was accepted once: read it back with limits no
	// smaller than the defaults, whatever -max-size says now.
	loader := *in
	loader.decoder = tlsrpt.Decoder{
		MaxCompressedSize: max(in.decoder.MaxCompressedSize, tlsrpt.MaxMessageSize),
		MaxReportSize:     max(in.decoder.MaxReportSize, tlsrpt.DefaultMaxReportSize),
	}
	bad := 0
	for _, name := range names {
		raw, err := readStored(filepath.Join(in.store.dir, name))
		var (
			r    *tlsrpt.Report
			info *reportInfo
		)
		if err == nil {
			r, info, err = loader.prepare(raw, true, false)
		}
		if err != nil {
			logf("stored report %s cannot be read: %s", name, escape.Text(err.Error()))
			in.store.loadedUnreadable(int64(len(raw)))
			in.agg.addUnreadable()
			bad++
			continue
		}
		seq, dup := in.store.loaded(name, int64(len(raw)), r.OrganizationName, r.ReportID, info.Last)
		if dup {
			continue
		}
		info.seq, info.Received = seq, in.store.modTime(name)
		in.agg.add(info, r)
	}
	return bad, nil
}

// readStored reads a stored report (at most tlsrpt.MaxMessageSize bytes,
// the largest a report email may be).
func readStored(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, tlsrpt.MaxMessageSize+1))
	if err == nil && len(raw) > tlsrpt.MaxMessageSize {
		err = fmt.Errorf("longer than %d bytes", tlsrpt.MaxMessageSize)
	}
	return raw, err
}

// check refuses what is not a usable report, whatever the decoder
// accepted: the members the summary needs, counts in range (RFC 8460
// §4.4 counts are non-negative integers), and a policy domain served
// here (when filter is set).
func (in *intake) check(r *tlsrpt.Report, filter bool) error {
	var missing []string
	if strings.TrimSpace(r.OrganizationName) == "" {
		missing = append(missing, "organization-name")
	}
	if strings.TrimSpace(r.ReportID) == "" {
		missing = append(missing, "report-id")
	}
	if r.DateRange.Start.IsZero() || r.DateRange.End.IsZero() {
		missing = append(missing, "date-range")
	}
	if len(r.Policies) == 0 {
		missing = append(missing, "policies")
	}
	if len(missing) > 0 {
		return reject("not a TLS report: no %s (RFC 8460 §4.4)", strings.Join(missing, ", "))
	}
	if r.DateRange.End.Before(r.DateRange.Start) {
		return reject("date-range ends before it starts")
	}
	if r.DateRange.End.After(in.now().Add(maxFuture)) {
		return reject("date-range ends on %s, in the future", r.DateRange.End.UTC().Format(time.DateOnly))
	}
	served := in.domains == nil || !filter
	for i := range r.Policies {
		pr := &r.Policies[i]
		d := policyDomain(pr)
		if d == "" {
			return reject("policies[%d]: no policy-domain", i)
		}
		served = served || in.domains[d]
		if err := checkCount(fmt.Sprintf("policies[%d].summary.total-successful-session-count", i), pr.Summary.TotalSuccessfulSessionCount); err != nil {
			return err
		}
		if err := checkCount(fmt.Sprintf("policies[%d].summary.total-failure-session-count", i), pr.Summary.TotalFailureSessionCount); err != nil {
			return err
		}
		for j, fd := range pr.FailureDetails {
			if err := checkCount(fmt.Sprintf("policies[%d].failure-details[%d].failed-session-count", i, j), fd.FailedSessionCount); err != nil {
				return err
			}
		}
	}
	if !served {
		return reject("no policy-domain of the report is served here")
	}
	return nil
}

func checkCount(path string, n int64) error {
	if n < 0 || n > maxCount {
		return reject("%s: %d is not a session count (0 to %d)", path, n, int64(maxCount))
	}
	return nil
}
