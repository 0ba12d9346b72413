package tlsrpt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
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
// §5.3), signed by s.DKIM when it is set:
//
//   - headers From (s.From), To, Date, Message-ID, MIME-Version,
//     Subject "Report Domain: <policy domain> Submitter: <submitter>
//     Report-ID: <report-id>", TLS-Report-Domain, TLS-Report-Submitter,
//     and "TLS-Required: No" (RFC 8689), so that a relay delivers it
//     despite MTA-STS or DANE failures (§5.3.1);
//   - Content-Type multipart/report; report-type="tlsrpt", with a
//     text/plain part for people and the gzip-compressed report as an
//     application/tlsrpt+gzip attachment in base64, named by §5.1: the
//     sender part is the domain of the report's contact-info (the ABNF's
//     "domain ... used as the domain for the contact-info key"), or the
//     submitter when contact-info has none, and the unique-id is taken
//     from the report-id.
//
// The Message-ID is made from the report-id and the recipients, so every
// try of one report to one destination, before and after a restart, has
// the same Message-ID and a receiver can drop a copy.
//
// RFC 8460 §5.3 requires a DKIM signature by the reporting domain,
// without the l= tag: set s.DKIM, or have Sender.Mail sign. r must be
// valid (see Validate) and all its policies must be of one domain.
func (s *Sender) Message(ctx context.Context, r *Report, to []string) (*Message, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	meta, err := metaOf(r)
	if err != nil {
		return nil, err
	}
	gz, err := s.gzipReport(r)
	if err != nil {
		return nil, err
	}
	m, err := s.message(&meta, to, gz)
	if err != nil {
		return nil, err
	}
	if err := s.sign(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// reportMeta is what a report email says of its report besides the
// report itself; an Outbox keeps it with the report's gzip body.
type reportMeta struct {
	ID           string    `json:"report-id"`
	Domain       string    `json:"policy-domain"`
	Organization string    `json:"organization-name"`
	Contact      string    `json:"contact-info"`
	Begin        time.Time `json:"begin"`
	End          time.Time `json:"end"`
	Policies     int       `json:"policies"`
	Successes    int64     `json:"successes"`
	Failures     int64     `json:"failures"`
}

// metaOf returns the reportMeta of r.
func metaOf(r *Report) (reportMeta, error) {
	domain, err := reportDomain(r)
	if err != nil {
		return reportMeta{}, err
	}
	m := reportMeta{
		ID: r.ReportID, Domain: domain, Organization: r.OrganizationName, Contact: r.ContactInfo,
		Begin: r.DateRange.Start, End: r.DateRange.End, Policies: len(r.Policies),
	}
	for _, p := range r.Policies {
		m.Successes += p.Summary.TotalSuccessfulSessionCount
		m.Failures += p.Summary.TotalFailureSessionCount
	}
	return m, nil
}

// message builds the email of the report r describes, with the
// gzip-compressed report gz, unsigned.
func (s *Sender) message(r *reportMeta, to []string, gz []byte) (*Message, error) {
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
	domain := r.Domain
	submitter := s.Submitter
	if submitter == "" {
		submitter = contactDomain(r.Contact)
	}
	if submitter == "" {
		submitter = contactDomain(from.Address)
	}
	submitter = normalHost(submitter)
	if !isHostName(submitter) {
		return nil, fmt.Errorf("%w: submitter %s is not a domain name in A-labels; set Sender.Submitter", ErrInvalidAddress, escape.Quote(submitter))
	}
	id := r.ID
	if id == "" || !isHeaderToken(id) {
		return nil, fmt.Errorf("%w: report-id %s cannot be written in a Subject header", ErrInvalidReport, escape.Quote(id))
	}
	if !strings.Contains(id, "@") {
		id += "@" + submitter
	}
	fileSender := contactDomain(r.Contact)
	if fileSender == "" {
		fileSender = submitter
	}
	sum := sha256.Sum256([]byte(r.ID))
	name := FileName{
		Sender:       fileSender,
		PolicyDomain: domain,
		Begin:        r.Begin,
		End:          r.End,
		UniqueID:     hex.EncodeToString(sum[:6]),
		Gzip:         true,
	}
	if err := name.Validate(); err != nil {
		return nil, err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	boundary := "tlsrpt-" + hex.EncodeToString(rnd[:])
	idSum := sha256.Sum256([]byte(r.ID + "\x00" + strings.Join(rcpts, ",")))
	msgID := hex.EncodeToString(idSum[:16]) + "@" + submitter

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
	qp.Write([]byte(strings.ReplaceAll(summaryText(r, submitter, name.String()), "\n", "\r\n")))
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

// sign prepends the DKIM signature of s.DKIM, if set, to m.
func (s *Sender) sign(ctx context.Context, m *Message) error {
	if s.DKIM == nil {
		return nil
	}
	sig, err := s.DKIM.SignMessage(ctx, m.Data)
	if err != nil {
		return fmt.Errorf("tlsrpt: DKIM-signing the report email: %w", err)
	}
	data := make([]byte, 0, len(sig)+len(m.Data))
	m.Data = append(append(data, sig...), m.Data...)
	return nil
}

// summaryText is the human-readable part of a report email.
func summaryText(r *reportMeta, submitter, file string) string {
	return fmt.Sprintf(`This is an aggregate TLS report (RFC 8460) from %s (%s)
for the policy domain %s, covering %s to %s UTC.

Report-ID: %s
Policies: %d
Successful sessions: %d
Failed sessions: %d

The report is attached as %s.
`, r.Organization, submitter, r.Domain,
		r.Begin.UTC().Format(time.DateTime), r.End.UTC().Format(time.DateTime),
		r.ID, r.Policies, r.Successes, r.Failures, file)
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

// IsReportMessage reports whether h is the header of a TLS report email:
// it has the TLS-Report-Domain and TLS-Report-Submitter fields that RFC 8460
// §5.3 requires of one (Sender.Message writes them).
//
// RFC 8460 §5.3.1 says an MTA delivering a report must not let MTA-STS or
// DANE failures block it (the message says "TLS-Required: No") and SHOULD
// NOT count the sessions that deliver it in the next report, so that a
// failing report destination does not feed reports about itself. An MTA's
// sending-session code calls IsReportMessage on the message it is
// delivering (or checks a flag its queue sets for messages that came in
// through Sender.Mail) and, when it is true, records nothing with the
// Collector for that session.
func IsReportMessage(h textproto.MIMEHeader) bool {
	return h.Get("TLS-Report-Domain") != "" && h.Get("TLS-Report-Submitter") != ""
}
