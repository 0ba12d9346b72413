package world

import (
	"context"
	"sync"

	"github.com/smtpsec/smtpsec/mtasts"
)

// policies holds the policy each domain's policy host serves; the world's
// program changes them while the host runs.
type policies struct {
	mu sync.Mutex
	m  map[string]*mtasts.Policy // by policy domain
}

// get is the Policy function of the mtasts.Handler: nil (404) for a
// domain without a policy.
func (p *policies) get(_ context.Context, domain string) (*mtasts.Policy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[domain], nil
}

// set makes the host serve pol for domain.
func (p *policies) set(domain string, pol *mtasts.Policy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*mtasts.Policy{}
	}
	p.m[domain] = pol
}
