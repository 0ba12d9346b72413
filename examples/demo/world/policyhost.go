package world

import (
	"net/http"
	"sync"

	"github.com/smtpsec/smtpsec/mtasts"
)

// policyServer is a temporary stand-in until mtasts.Handler exists.
type policyServer struct {
	mu sync.Mutex
	p  *mtasts.Policy
}

func newPolicyServer() *policyServer { return &policyServer{} }

func (s *policyServer) set(p *mtasts.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p = p
}

func (s *policyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p == nil || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(p.String()))
}
