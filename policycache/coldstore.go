package policycache

import (
	"strings"
	"sync"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// coldStore is where a Cache created without a Store (Config.Store nil)
// keeps the valid policies of the domains it evicts past MaxMemory, so
// that eviction never loses a policy that RFC 8461 §3.3 says to apply
// when discovery fails. A cold policy keeps only its canonical text, id,
// fetch time and expiry: about 250 bytes, under a third of what the same
// policy costs as an entry ready for a Lookup hit. The next Lookup of the
// domain parses it again. Expired cold policies are dropped by the
// background loop. It is safe for concurrent use.
type coldStore struct {
	mu sync.Mutex
	m  map[string]coldPolicy
}

// coldPolicy is an evicted policy.
type coldPolicy struct {
	id      string
	text    string // the canonical form, (*mtasts.Policy).String
	fetched int64  // Unix nanoseconds
	expires int64  // Unix nanoseconds
}

// put keeps the policy of entry e (which holds one).
func (s *coldStore) put(e *entry) {
	text := e.text // canonical: see policyEntry
	if !strings.HasPrefix(text, "version: ") {
		text = e.result.Policy.String()
	}
	cp := coldPolicy{id: e.result.ID, text: text, fetched: e.fetched.UnixNano(), expires: e.result.Expires.UnixNano()}
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]coldPolicy)
	}
	s.m[e.result.Domain] = cp
	s.mu.Unlock()
}

// delete forgets the policy of d.
func (s *coldStore) delete(d string) {
	s.mu.Lock()
	delete(s.m, d)
	s.mu.Unlock()
}

// take removes the policy of d and returns it with its fetch time, if one
// is kept and still valid at now. The entry made of it must be put back
// when it is evicted again (entry.stored false).
func (s *coldStore) take(d string, now time.Time) (id string, p *mtasts.Policy, fetched time.Time, ok bool) {
	s.mu.Lock()
	cp, found := s.m[d]
	delete(s.m, d)
	s.mu.Unlock()
	if !found || now.UnixNano() >= cp.expires {
		return "", nil, time.Time{}, false
	}
	p, err := mtasts.ParsePolicy([]byte(cp.text))
	if err != nil {
		// The canonical form of a parsed policy always parses again.
		return "", nil, time.Time{}, false
	}
	return cp.id, p, time.Unix(0, cp.fetched), true
}

// prune drops the policies expired at now.
func (s *coldStore) prune(now time.Time) {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, cp := range s.m {
		if t >= cp.expires {
			delete(s.m, d)
		}
	}
}

// len is the number of policies kept.
func (s *coldStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
