package policycache

// certPassed is the outcome of the VerifyConnection of TLSConfig after a
// handshake whose certificate passed the RFC 8461 §4.2 checks.
var certPassed = &certCheck{done: true}

// HandshakeVerified stands, in benchmarks, for a completed handshake with
// s.TLSConfig() whose checks passed: the x509 work is crypto/tls's (and
// crypto/x509's), not the session's.
func (s *Session) HandshakeVerified() { s.cert = certPassed }
