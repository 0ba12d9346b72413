package mtasts

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The DNS records a domain publishes for MTA-STS and TLS-RPT, built as
// github.com/miekg/dns resource records. Their String method gives the
// line for a zone file (RFC 1035 §5.1), with the quoting and the splitting
// into character-strings of at most 255 bytes that DNS requires:
//
//	rr, _ := mtasts.RecordTXT("example.com", &mtasts.Record{ID: mtasts.PolicyID(p)}, time.Hour)
//	fmt.Println(rr) // _mta-sts.example.com.	3600	IN	TXT	"v=STSv1; id=..."

// maxTTL is the largest TTL RFC 2181 §8 allows: 2^31 - 1 seconds.
const maxTTL = 1<<31 - 1

// maxCharString is the longest DNS character-string (RFC 1035 §3.3): one
// length byte, so 255 bytes.
const maxCharString = 255

// RecordTXT returns the MTA-STS TXT record of the policy domain domain
// (RFC 8461 §3.1): _mta-sts.<domain> with the text of r.String(), for
// example "v=STSv1; id=20160831085700Z". The domain may be given in upper
// case, with a trailing dot or in U-labels; the owner name is written in
// A-labels, lower case, absolute. ttl is rounded down to whole seconds.
//
// A record longer than 255 bytes is split into several character-strings,
// which resolvers join without separators (§3.1). The record must be
// valid by ParseRecord: an id of 1 to 32 letters and digits, extension
// names and values by the §3.1 grammar. Set a new id only after the policy
// it describes is served (§8.1); PolicyID derives one from the content.
func RecordTXT(domain string, r *Record, ttl time.Duration) (*dns.TXT, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil record", ErrInvalidRecord)
	}
	text := r.String()
	parsed, err := ParseRecord(text)
	if err != nil {
		return nil, err
	}
	if parsed.String() != text {
		// Text that parses but means another record, such as an id
		// with a trailing space ("id=0 ; x=1" reads as id 0).
		return nil, &SyntaxError{Err: ErrInvalidRecord, Line: 1, Column: 1,
			Msg: fmt.Sprintf("the record reads back as %q: an id or extension holds characters its grammar does not allow", parsed.String())}
	}
	return txtRR("_mta-sts.", domain, text, ttl)
}

// TLSRPTRecordTXT returns the TLS-RPT TXT record of domain (RFC 8460 §3):
// _smtp._tls.<domain> with the text record, for example
// "v=TLSRPTv1; rua=mailto:tlsrpt@example.com". Senders report to the
// rua destinations the failures they meet while delivering to the domain
// with MTA-STS, so a domain that publishes a policy should publish this
// record too.
//
// Only the shape of record is checked here: printable US-ASCII (RFC 8460
// URIs are percent-encoded) beginning with "v=TLSRPTv1" and ";". The full
// grammar is checked by the tlsrpt package, which mtasts does not import;
// pass its Record's String() to be sure. Splitting and the owner name
// follow RecordTXT.
func TLSRPTRecordTXT(domain, record string, ttl time.Duration) (*dns.TXT, error) {
	rest, ok := strings.CutPrefix(record, "v=TLSRPTv1")
	if !ok || !strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
		return nil, fmt.Errorf("mtasts: TLS-RPT record %q does not begin with \"v=TLSRPTv1;\"", record)
	}
	for i := 0; i < len(record); i++ {
		if c := record[i]; c < 0x20 || c > 0x7e {
			return nil, fmt.Errorf("mtasts: TLS-RPT record %q: %s at byte %d; only printable US-ASCII is allowed", record, describeChar(record, i), i)
		}
	}
	return txtRR("_smtp._tls.", domain, record, ttl)
}

// RecordCNAME returns the CNAME that delegates the MTA-STS TXT record of
// domain to a hosting provider (RFC 8461 §8.2):
// _mta-sts.<domain> CNAME _mta-sts.<provider>. The provider then controls
// the policy id, and must serve the policy for mta-sts.<domain> (see
// PolicyHostCNAME) with a certificate valid for that name.
func RecordCNAME(domain, provider string, ttl time.Duration) (*dns.CNAME, error) {
	target, err := toASCIIHost(provider)
	if err != nil {
		return nil, fmt.Errorf("mtasts: invalid provider domain %q: %w", provider, err)
	}
	return cnameRR("_mta-sts.", domain, "_mta-sts."+target, ttl)
}

// PolicyHostCNAME returns the CNAME that points the policy host of domain
// at a hosting provider's server (RFC 8461 §8.2):
// mta-sts.<domain> CNAME <target>, for example target
// "mta-sts.provider.example". Senders still ask for
// https://mta-sts.<domain>/ and check the certificate against that name,
// so the provider must hold a certificate for mta-sts.<domain>; an HTTP
// redirect instead of the CNAME does not work, as senders do not follow
// redirects (§3.3).
func PolicyHostCNAME(domain, target string, ttl time.Duration) (*dns.CNAME, error) {
	t, err := toASCIIHost(target)
	if err != nil {
		return nil, fmt.Errorf("mtasts: invalid CNAME target %q: %w", target, err)
	}
	return cnameRR("mta-sts.", domain, t, ttl)
}

// rrHeader returns the header of the record at prefix+domain.
func rrHeader(prefix, domain string, rtype uint16, ttl time.Duration) (dns.RR_Header, error) {
	host, err := toASCIIHost(domain)
	if err != nil {
		return dns.RR_Header{}, fmt.Errorf("mtasts: invalid domain %q: %w", domain, err)
	}
	name := prefix + host
	if len(name) > 253 {
		return dns.RR_Header{}, fmt.Errorf("mtasts: %s is longer than 253 characters", name)
	}
	secs := ttl / time.Second
	if secs < 0 || secs > maxTTL {
		return dns.RR_Header{}, fmt.Errorf("mtasts: TTL %v is outside 0 to %d seconds (RFC 2181 §8)", ttl, maxTTL)
	}
	return dns.RR_Header{Name: name + ".", Rrtype: rtype, Class: dns.ClassINET, Ttl: uint32(secs)}, nil
}

func txtRR(prefix, domain, text string, ttl time.Duration) (*dns.TXT, error) {
	hdr, err := rrHeader(prefix, domain, dns.TypeTXT, ttl)
	if err != nil {
		return nil, err
	}
	if text == "" {
		return nil, errors.New("mtasts: empty TXT record")
	}
	return &dns.TXT{Hdr: hdr, Txt: splitTXT(text)}, nil
}

func cnameRR(prefix, domain, target string, ttl time.Duration) (*dns.CNAME, error) {
	hdr, err := rrHeader(prefix, domain, dns.TypeCNAME, ttl)
	if err != nil {
		return nil, err
	}
	return &dns.CNAME{Hdr: hdr, Target: target + "."}, nil
}

// splitTXT cuts text, printable ASCII, into character-strings of at most
// 255 bytes on the wire, in the escaped form miekg/dns keeps in TXT.Txt
// (a backslash or double quote is preceded by a backslash).
func splitTXT(text string) []string {
	parts := make([]string, 0, (len(text)+maxCharString-1)/maxCharString)
	for len(text) > 0 {
		n := min(len(text), maxCharString)
		parts = append(parts, escapeTXT(text[:n]))
		text = text[n:]
	}
	return parts
}

func escapeTXT(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
