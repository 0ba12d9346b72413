package mtasts_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/smtpsec/smtpsec/mtasts"
)

// zone is an in-process stand-in for DNS. LookupRecord takes any
// mtasts.Resolver; in production that is a *net.Resolver (nil means
// net.DefaultResolver) or a resolver of your own.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	switch txts, ok := z[name]; {
	case name == "_mta-sts.broken.example.":
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	case !ok:
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	default:
		return txts, nil
	}
}

func ExampleLookupRecord() {
	dns := zone{
		"_mta-sts.example.com.": {"v=spf1 -all", "v=STSv1; id=20240101"},
		"_mta-sts.example.net.": {"v=STSv1; id=a", "v=STSv1; id=b"},
	}
	for _, domain := range []string{"EXAMPLE.COM.", "example.net", "example.org", "broken.example"} {
		rec, err := mtasts.LookupRecord(context.Background(), dns, domain)
		switch {
		case err == nil:
			fmt.Printf("%s: policy id %s\n", domain, rec.ID)
		case errors.Is(err, mtasts.ErrDNSTemporary):
			fmt.Printf("%s: try again later; keep using a cached policy\n", domain)
		default: // ErrNoRecord, ErrMultipleRecords, ErrInvalidRecord
			fmt.Printf("%s: no available policy: %v\n", domain, err)
		}
	}
	// Output:
	// EXAMPLE.COM.: policy id 20240101
	// example.net: no available policy: _mta-sts.example.net: mtasts: more than one MTA-STS TXT record (2 found)
	// example.org: no available policy: _mta-sts.example.org: mtasts: no MTA-STS TXT record: lookup _mta-sts.example.org.: no such host
	// broken.example: try again later; keep using a cached policy
}
