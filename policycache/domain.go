package policycache

import (
	"errors"
	"fmt"

	"github.com/smtpsec/smtpsec/mtasts"
)

// ErrInvalidDomain is matched (errors.Is) by the error Lookup returns for
// a policy domain that is not a valid host name. The error also matches
// mtasts.ErrInvalidDomain.
var ErrInvalidDomain = errors.New("policycache: invalid policy domain")

// normalDomain returns the policy domain in the form used as the cache
// key, in DNS queries and in the policy URL: mtasts.NormalizeDomain's
// lower-case A-labels without a trailing dot (RFC 8461 §3.4: the domain
// itself, never a parent).
func normalDomain(domain string) (string, error) {
	d, err := mtasts.NormalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidDomain, err)
	}
	return d, nil
}
