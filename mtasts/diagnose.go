package mtasts

import (
	"fmt"
	"sort"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Severity says whether a Diagnostic makes a policy invalid.
type Severity uint8

const (
	// SeverityWarning marks a finding that DiagnosePolicy tolerates: the
	// policy is usable, but should be corrected.
	SeverityWarning Severity = iota + 1
	// SeverityError marks a finding that makes the policy invalid.
	SeverityError
)

// String returns "warning" or "error".
func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// MarshalText returns "warning" or "error", so that a Severity reads as a
// word in JSON and other text encodings. Other values are an error.
func (s Severity) MarshalText() ([]byte, error) {
	switch s {
	case SeverityWarning, SeverityError:
		return []byte(s.String()), nil
	}
	return nil, fmt.Errorf("mtasts: cannot marshal %v", s)
}

// UnmarshalText reads "warning" or "error", as MarshalText writes them.
func (s *Severity) UnmarshalText(text []byte) error {
	switch string(text) {
	case "warning":
		*s = SeverityWarning
	case "error":
		*s = SeverityError
	default:
		return fmt.Errorf("mtasts: unknown severity %s", escape.Quote(string(text)))
	}
	return nil
}

// A Diagnostic is one finding of DiagnosePolicy. Its JSON form has the
// severity as "warning" or "error".
type Diagnostic struct {
	Line     int      `json:"line"`          // 1-based line
	Column   int      `json:"column"`        // 1-based character position in the line
	Severity Severity `json:"severity"`      // SeverityError makes the policy invalid
	Message  string   `json:"message"`       // what is wrong
	Fix      string   `json:"fix,omitempty"` // a suggested correction, or ""
}

// String formats d as "line:column: severity: message (fix)".
func (d Diagnostic) String() string {
	if d.Fix != "" {
		return fmt.Sprintf("%d:%d: %s: %s (%s)", d.Line, d.Column, d.Severity, d.Message, d.Fix)
	}
	return fmt.Sprintf("%d:%d: %s: %s", d.Line, d.Column, d.Severity, d.Message)
}

// DiagnosePolicy parses a policy file like ParsePolicy, but reads what real
// policy hosts publish with harmless slips, and reports every finding
// instead of stopping at the first. It accepts, with a warning each:
//
//   - a UTF-8 byte order mark at the start of the file;
//   - blank lines after the last field;
//   - a trailing dot after an mx host name (it is removed);
//
// and warns, as ParsePolicy silently does the same, about a max_age above
// 31557600 (it is clamped), about duplicated version, mode and max_age
// fields (the first counts) and about unknown fields whose names look like
// a misspelt standard field ("nmx", "Mode", "max-age"). When such a
// misspelling explains a missing required field, the error points at it.
//
// All other problems are errors. The diagnostics come sorted by line and
// column. If any is an error, the returned policy is nil and err is the
// first error as a *SyntaxError matching ErrInvalidPolicy; otherwise the
// policy is returned with the warnings and a nil error.
//
// Senders that opt into DiagnosePolicy instead of ParsePolicy accept a few
// policies the RFC 8461 grammar rejects; policy hosts and inspection tools
// use it to show people what to correct.
func DiagnosePolicy(data []byte) (*Policy, []Diagnostic, error) {
	p := policyParser{s: string(data), diag: true}
	var buf [8]string
	mx := p.run(buf[:0])
	sort.SliceStable(p.diags, func(i, j int) bool {
		a, b := p.diags[i], p.diags[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	if p.err != nil {
		for _, d := range p.diags {
			if d.Severity == SeverityError {
				return nil, p.diags, &SyntaxError{Err: ErrInvalidPolicy, Line: d.Line, Column: d.Column, Msg: d.Message, Fix: d.Fix}
			}
		}
	}
	return p.result(mx), p.diags, nil
}
