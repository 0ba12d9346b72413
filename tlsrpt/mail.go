package tlsrpt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// A Message is a report email (RFC 8460 §5.3) with its SMTP envelope, ready
// for any SMTP client or for a DKIM signer first.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO).
	To []string
	// Data is the RFC 5322 message: 7-bit ASCII, CRLF line endings, lines
	// of at most 78 characters except those carrying the file name or a
	// long report-id (at most 998, RFC 5322 §2.1.1).
	Data []byte
}

// Message builds the email of report r to the addresses to (RFC 8460
// §5.3):
//
//   - headers From (s.From), To, Date, Message-ID, MIME-Version,
//     Subject "Report Domain: <policy domain> Submitter: <submitter>
//     Report-ID: <report-id>", TLS-Report-Domain, TLS-Report-Submitter,
//     and "TLS-Required: No" (RFC 8689), so that a relay delivers it
//     despite MTA-STS or DANE failures (§5.3.1);
//   - Content-Type multipart/report; report-type="tlsrpt", with a
//     text/plain part for people and the gzip-compressed report as an
//     application/tlsrpt+gzip attachment in base64, named by §5.1 (with a
//     unique-id taken from the report-id).
//
// The message is not DKIM-signed: RFC 8460 §5.3 requires a signature by
// the reporting domain without the l= tag, so pass Data through a DKIM
// signer (covering the TLS-Report-* headers) before sending. r must be
// valid (see Validate) and all its policies must be of one domain.
func (s *Sender) Message(r *Report, to []string) (*Message, error) {
	if err := r.validateWritten(); err != nil {
		return nil, err
	}
	gz, err := s.gzipReport(r)
	if err != nil {
		return nil, err
	}
	return s.message(r, to, gz)
}

// message builds the email of r with the gzip-compressed report gz.
func (s *Sender) message(r *Report, to []string, gz []byte) (*Message, error) {
	if s.From == "" {
		return nil, fmt.Errorf("%w: Sender.From is empty", ErrInvalidAddress)
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil || !isASCII(from.String()) {
		return nil, fmt.Errorf("%w: Sender.From %s is not an ASCII email address", ErrInvalidAddress, escape.Quote(s.From))
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrNoDestination)
	}
	rcpts := make([]string, len(to))
	for i, a := range to {
		addr, err := mail.ParseAddress(a)
		if err != nil || !isASCII(addr.Address) {
			return nil, fmt.Errorf("%w: recipient %s is not an ASCII email address", ErrInvalidAddress, escape.Quote(a))
		}
		rcpts[i] = addr.Address
	}
	domain, err := reportDomain(r)
	if err != nil {
		return nil, err
	}
	submitter := s.Submitter
	if submitter == "" {
		submitter = contactDomain(r.ContactInfo)
	}
	if submitter == "" {
		submitter = contactDomain(from.Address)
	}
	submitter = normalHost(submitter)
	if !isHostName(submitter) {
		return nil, fmt.Errorf("%w: submitter %s is not a domain name in A-labels; set Sender.Submitter", ErrInvalidAddress, escape.Quote(submitter))
	}
	id := r.ReportID
	if id == "" || !isHeaderToken(id) {
		return nil, fmt.Errorf("%w: report-id %s cannot be written in a Subject header", ErrInvalidReport, escape.Quote(id))
	}
	if !strings.Contains(id, "@") {
		id += "@" + submitter
	}
	sum := sha256.Sum256([]byte(r.ReportID))
	name := FileName{
		Sender:       submitter,
		PolicyDomain: domain,
		Begin:        r.DateRange.Start,
		End:          r.DateRange.End,
		UniqueID:     hex.EncodeToString(sum[:6]),
		Gzip:         true,
	}
	if err := name.Validate(); err != nil {
		return nil, err
	}
	var rnd [24]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	boundary := "tlsrpt-" + hex.EncodeToString(rnd[:12])
	msgID := hex.EncodeToString(rnd[12:]) + "@" + submitter

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", from.String())
	header("To", strings.Join(rcpts, ",\r\n "))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+msgID+">")
	header("Subject", foldSubject("Report Domain: "+domain, "Submitter: "+submitter, "Report-ID: <"+id+">"))
	header("TLS-Report-Domain", domain)
	header("TLS-Report-Submitter", submitter)
	header("TLS-Required", "No")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/report; report-type="tlsrpt";`+"\r\n\t"+`boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a multipart message in MIME format: an SMTP TLS report (RFC 8460).\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(summaryText(r, domain, submitter, name.String()), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	header("Content-Type", MediaTypeGzip+";\r\n\tname=\""+name.String()+"\"")
	header("Content-Transfer-Encoding", "base64")
	header("Content-Disposition", "attachment;\r\n\tfilename=\""+name.String()+"\"")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n--" + boundary + "--\r\n")

	return &Message{From: from.Address, To: rcpts, Data: b.Bytes()}, nil
}

// summaryText is the human-readable part of a report email.
func summaryText(r *Report, domain, submitter, file string) string {
	var ok, failed int64
	for _, p := range r.Policies {
		ok += p.Summary.TotalSuccessfulSessionCount
		failed += p.Summary.TotalFailureSessionCount
	}
	return fmt.Sprintf(`This is an aggregate TLS report (RFC 8460) from %s (%s)
for the policy domain %s, covering %s to %s UTC.

Report-ID: %s
Policies: %d
Successful sessions: %d
Failed sessions: %d

The report is attached as %s.
`, r.OrganizationName, submitter, domain,
		r.DateRange.Start.UTC().Format(time.DateTime), r.DateRange.End.UTC().Format(time.DateTime),
		r.ReportID, len(r.Policies), ok, failed, file)
}

// reportDomain returns the one policy domain of r, in A-labels.
func reportDomain(r *Report) (string, error) {
	if len(r.Policies) == 0 {
		return "", fmt.Errorf("%w: the report has no policies, so no policy domain to address", ErrInvalidReport)
	}
	d := normalHost(r.Policies[0].Policy.Domain)
	for _, p := range r.Policies[1:] {
		if !sameHost(d, p.Policy.Domain) {
			return "", fmt.Errorf("%w: the report has policies of two domains, %s and %s", ErrInvalidReport, escape.Quote(d), escape.Quote(p.Policy.Domain))
		}
	}
	if !isHostName(d) {
		return "", fmt.Errorf("%w: policy domain %s is not a domain name in A-labels", ErrInvalidReport, escape.Quote(d))
	}
	return d, nil
}

// foldSubject joins the words of a Subject, folding before each when the
// line would pass 78 characters.
func foldSubject(words ...string) string {
	var b strings.Builder
	line := len("Subject: ")
	for i, w := range words {
		if i > 0 {
			if line+1+len(w) > 78 {
				b.WriteString("\r\n")
				line = 0
			}
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// isHeaderToken reports whether s is printable ASCII without space, "<"
// and ">": safe inside the angle brackets of a header.
func isHeaderToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < ' ' {
			return false
		}
	}
	return true
}

// mailtoAddresses returns the addresses of a mailto: URI (RFC 6068): those
// of its path and of a "to" query field.
func mailtoAddresses(u *url.URL) ([]string, error) {
	if u.Scheme != "mailto" {
		return nil, fmt.Errorf("%w: %s is not a mailto: URI", ErrInvalidAddress, u.Redacted())
	}
	path := u.Opaque
	if path == "" {
		path = u.Path
	}
	path, err := url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("%w: mailto URI %s: %w", ErrInvalidAddress, u.Redacted(), err)
	}
	var to []string
	fields := []string{path}
	fields = append(fields, u.Query()["to"]...)
	for _, f := range fields {
		for a := range strings.SplitSeq(f, ",") {
			if a = strings.TrimSpace(a); a != "" {
				to = append(to, a)
			}
		}
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: mailto URI %s has no address", ErrInvalidAddress, u.Redacted())
	}
	return to, nil
}
