package tlsrpt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Media types of reports (RFC 8460 §5.3, §6.4, §6.5), for the report part of
// an email and the Content-Type of an HTTPS POST.
const (
	// MediaTypeGzip is a gzip-compressed JSON report, which senders SHOULD
	// use (§5.2).
	MediaTypeGzip = "application/tlsrpt+gzip"
	// MediaTypeJSON is a plain JSON report.
	MediaTypeJSON = "application/tlsrpt+json"
)

// ErrInvalidFileName is matched by the errors of ParseFileName and
// FileName.Validate.
var ErrInvalidFileName = errors.New("tlsrpt: invalid report file name")

// FileName is the name of a report file (RFC 8460 §5.1):
//
//	sender "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." ( "json" / "json.gz" )
//
// for example "mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz".
// The report itself, not its name, is authoritative (§5.6).
type FileName struct {
	// Sender is the domain of the report's contact-info address, in A-labels.
	Sender string
	// PolicyDomain is the domain the report is about, in A-labels.
	PolicyDomain string
	// Begin and End are the report's date range, written as Unix seconds
	// (fractions of a second are dropped).
	Begin, End time.Time
	// UniqueID, when not empty, tells apart reports generated at the same
	// time by different sources: letters and digits only.
	UniqueID string
	// Gzip selects the extension "json.gz" (a gzip-compressed report)
	// rather than "json".
	Gzip bool
}

// String returns the file name. It does not validate f; see Validate.
func (f FileName) String() string {
	b := make([]byte, 0, len(f.Sender)+len(f.PolicyDomain)+len(f.UniqueID)+40)
	b = append(b, f.Sender...)
	b = append(b, '!')
	b = append(b, f.PolicyDomain...)
	b = append(b, '!')
	b = strconv.AppendInt(b, f.Begin.Unix(), 10)
	b = append(b, '!')
	b = strconv.AppendInt(b, f.End.Unix(), 10)
	if f.UniqueID != "" {
		b = append(b, '!')
		b = append(b, f.UniqueID...)
	}
	b = append(b, ".json"...)
	if f.Gzip {
		b = append(b, ".gz"...)
	}
	return string(b)
}

// Validate reports whether String gives a file name of the §5.1 ABNF:
// Sender and PolicyDomain are host names in A-labels, Begin and End are not
// before 1970 (the timestamps are 1*DIGIT), and UniqueID holds only letters
// and digits.
func (f FileName) Validate() error {
	switch {
	case !isHostName(f.Sender):
		return fileNameErr("sender %s is not a domain name in A-labels", escape.Quote(f.Sender))
	case !isHostName(f.PolicyDomain):
		return fileNameErr("policy domain %s is not a domain name in A-labels", escape.Quote(f.PolicyDomain))
	case f.Begin.Unix() < 0:
		return fileNameErr("begin %v is before 1970", f.Begin)
	case f.End.Unix() < 0:
		return fileNameErr("end %v is before 1970", f.End)
	case !isAlnumString(f.UniqueID):
		return fileNameErr("unique-id %s is not letters and digits", escape.Quote(f.UniqueID))
	}
	return nil
}

// maxTimestamp is the last second of the year 9999: later timestamps are
// rejected as nonsense.
const maxTimestamp = 253402300799

// ParseFileName parses a report file name by the ABNF of RFC 8460 §5.1.
// Domains must be A-labels (an internationalised name in U-labels is an
// error), timestamps decimal Unix seconds up to the year 9999, the unique
// ID letters and digits, the extension "json" or "json.gz". Errors match
// ErrInvalidFileName.
func ParseFileName(name string) (FileName, error) {
	var f FileName
	base, ok := strings.CutSuffix(name, ".json.gz")
	if ok {
		f.Gzip = true
	} else if base, ok = strings.CutSuffix(name, ".json"); !ok {
		return FileName{}, fileNameErr("%s does not end in .json or .json.gz", escape.Quote(name))
	}
	parts := strings.Split(base, "!")
	if len(parts) != 4 && len(parts) != 5 {
		return FileName{}, fileNameErr("%s does not have 4 or 5 fields separated by \"!\"", escape.Quote(name))
	}
	f.Sender, f.PolicyDomain = parts[0], parts[1]
	if len(parts) == 5 {
		f.UniqueID = parts[4]
		if f.UniqueID == "" {
			return FileName{}, fileNameErr("%s has an empty unique-id", escape.Quote(name))
		}
	}
	var err error
	if f.Begin, err = parseTimestamp(parts[2]); err != nil {
		return FileName{}, fileNameErr("%s: begin timestamp: %v", escape.Quote(name), err)
	}
	if f.End, err = parseTimestamp(parts[3]); err != nil {
		return FileName{}, fileNameErr("%s: end timestamp: %v", escape.Quote(name), err)
	}
	if err := f.Validate(); err != nil {
		return FileName{}, err
	}
	return f, nil
}

func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("%s is not decimal digits", escape.Quote(s))
		}
		n = n*10 + int64(c-'0')
		if n > maxTimestamp {
			return time.Time{}, fmt.Errorf("%s is after the year 9999", escape.Quote(s))
		}
	}
	return time.Unix(n, 0).UTC(), nil
}

func isAlnumString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func fileNameErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidFileName}, args...)...)
}
