package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Resolver looks up DNS TXT records. *net.Resolver satisfies it, and so
// does any resolver with the same method and the same conventions: each
// string in the result is one TXT record with its character-strings
// concatenated, CNAMEs are followed, and "no such name" or "no TXT record
// at the name" is reported as a *net.DNSError with IsNotFound set.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// LookupRecord looks up the MTA-STS TXT record of the policy domain domain
// at _mta-sts.<domain> (RFC 8461 §3.1) through resolver; a nil resolver
// means net.DefaultResolver. The domain may be given in upper case, with a
// trailing dot or in U-labels; it is converted to A-labels and queried as
// an absolute name, so no search domain is ever appended. A CNAME at
// _mta-sts is followed by the resolver (policy delegation, §8.2).
//
// Of the TXT records found, those not beginning with "v=STSv1;" are
// discarded and exactly one must remain (see SelectRecord). The error
// says why there is no record, matched with errors.Is:
//   - ErrNoRecord: the name does not exist, has no TXT records, or none of
//     them is an MTA-STS record;
//   - ErrMultipleRecords: more than one MTA-STS record;
//   - ErrInvalidRecord: the one MTA-STS record is malformed (a
//     *SyntaxError says where);
//   - ErrDNSTemporary: the lookup itself failed; the resolver's error is
//     wrapped too (errors.As with *net.DNSError).
//
// In the first three cases the domain has no available policy (§3.1),
// which alone does not remove a policy a sender has cached (§5.1).
// A domain that is not a valid host name is reported with an error that
// matches none of these.
func LookupRecord(ctx context.Context, resolver Resolver, domain string) (*Record, error) {
	host, err := toASCIIHost(domain)
	if err != nil {
		return nil, fmt.Errorf("mtasts: invalid policy domain %s: %w", escape.Quote(domain), err)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	name := "_mta-sts." + host
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
