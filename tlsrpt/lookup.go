package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/smtpsec/smtpsec/internal/escape"
	"golang.org/x/net/idna"
)

// Resolver looks up DNS TXT records. *net.Resolver satisfies it, and so
// does any resolver with the same method and conventions: each string in
// the result is one TXT record with its character-strings concatenated,
// CNAMEs are followed, and "no such name" or "no TXT record at the name" is
// a *net.DNSError with IsNotFound set.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// ErrDNSTemporary reports that the TXT lookup failed without an answer:
// SERVFAIL, a time-out, a network error. Only an answer says that a record
// does not exist, so a reporter may try again later.
var ErrDNSTemporary = errors.New("tlsrpt: temporary DNS failure")

// LookupRecord looks up the TLS-RPT record of domain at _smtp._tls.<domain>
// (RFC 8460 §3) through resolver; nil means net.DefaultResolver. The domain
// may be given in upper case, with a trailing dot or in U-labels; it is
// queried in A-labels as an absolute name, so no search domain is ever
// appended.
//
// Of the TXT records found, those not beginning with "v=TLSRPTv1;" are
// discarded and exactly one must remain (see SelectRecord). Errors match
// (errors.Is) ErrNoRecord (no such name, no TXT records, or no TLS-RPT
// record among them), ErrMultipleRecords, ErrInvalidRecord (a *RecordError
// says where), or ErrDNSTemporary with the resolver's error wrapped too. In
// the first three cases the domain does not take reports.
func LookupRecord(ctx context.Context, resolver Resolver, domain string) (*Record, error) {
	host, err := asciiHost(domain)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: invalid domain %s: %w", escape.Quote(domain), err)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	name := "_smtp._tls." + host
	txts, err := resolver.LookupTXT(ctx, name+".")
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, fmt.Errorf("%s: %w: %w", name, ErrNoRecord, err)
		}
		return nil, fmt.Errorf("%s: %w: %w", name, ErrDNSTemporary, err)
	}
	rec, err := SelectRecord(txts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rec, nil
}

// asciiHost returns a domain name in A-labels (IDNA Lookup profile), lower
// case, without a trailing dot, or an error if it is not a host name.
func asciiHost(domain string) (string, error) {
	d := strings.TrimSuffix(domain, ".")
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", err
	}
	if !isHostName(a) {
		return "", errors.New("not a host name")
	}
	return a, nil
}
