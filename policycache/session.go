package policycache

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// A Delivery applies the Result of one Lookup to the MX hosts of one
// delivery attempt (a message, or a batch of recipients in one domain)
// and records every SMTP session for TLS-RPT. It holds the rules of
// RFC 8461 §4 and §5 and the recording rules of RFC 8460 §4, so that the
// MTA's loop only connects, asks and obeys:
//
//	d := policycache.NewDelivery(res, collector, mtasts.VerifyOptions{})
//	for _, mx := range mxHosts { // in preference order
//		s := d.Session(mx)
//		if !s.Try() {
//			continue // RFC 8461 §4.1: not a valid MX under an enforced policy
//		}
//		// connect, EHLO; STARTTLS with s.TLSConfig() if offered, else
//		// tlsErr = tlsrpt.ErrSTARTTLSNotSupported
//		if !s.Record(conn, &state, tlsErr) {
//			continue // this MX must not, or cannot, take the message
//		}
//		// send the message; done
//	}
//	// no MX took it: defer (a temporary failure, §5)
//
// A Delivery is safe for concurrent use; its Sessions are not.
type Delivery struct {
	res     Result
	counter *tlsrpt.PolicyCounter // nil: record nothing
	verify  mtasts.VerifyOptions
	// fetchReason is the failure-reason-code of res.Failure: what went
	// wrong with the policy fetch.
	fetchReason string
}

// NewDelivery returns the Delivery of res. Sessions are recorded in c
// under res.AppliedPolicy (nil c records nothing); verify sets the trusted
// roots and the clock of the MX certificate checks (RFC 8461 §4.2; the
// zero value means the system roots and time.Now).
func NewDelivery(res Result, c *tlsrpt.Collector, verify mtasts.VerifyOptions) *Delivery {
	d := &Delivery{res: res, verify: verify}
	if c != nil {
		d.counter = c.Counter(res.AppliedPolicy)
	}
	if res.Failure != "" {
		d.fetchReason = fetchReason(res.Err)
	}
	return d
}

// fetchReason is the failure-reason-code (RFC 8460 §4.4) of a failed
// policy fetch: the rule it broke and, for network and certificate
// errors, the cause in the words of tlsrpt.Classify, such as "HTTP status
// 404", "network error: connection refused" or "certificate not valid:
// X509_V_ERR_CERT_HAS_EXPIRED".
func fetchReason(err error) string {
	var fe *mtasts.FetchError
	if !errors.As(err, &fe) {
		if err == nil {
			return ""
		}
		_, reason := tlsrpt.Classify(err)
		return reason
	}
	switch fe.Reason {
	case mtasts.FetchStatus:
		return fmt.Sprintf("%s %d", fe.Reason, fe.StatusCode)
	case mtasts.FetchNetwork, mtasts.FetchWebPKI:
		_, reason := tlsrpt.Classify(fe.Err)
		if strings.HasPrefix(reason, fe.Reason.String()) {
			return reason
		}
		return fe.Reason.String() + ": " + reason
	}
	return fe.Reason.String()
}

// Result returns the Result the Delivery applies.
func (d *Delivery) Result() Result { return d.res }

// Session returns the session with the MX host host, a name of the
// domain's MX records (upper case, a trailing dot and U-labels are fine).
// It does not allocate.
func (d *Delivery) Session(host string) Session {
	return Session{d: d, host: host, allowed: d.res.AllowsMX(host)}
}

// A Session is one SMTP session with one MX host under a Delivery: whether
// to try the host (Try), how to run STARTTLS (TLSConfig), and the one call
// after STARTTLS that records the session and says whether to send the
// message in it (Record). Use each Session from one goroutine, and take a
// new one for every connection.
type Session struct {
	// HELO is the host name the MX gave in its greeting or EHLO reply,
	// when known; Record reports it as receiving-mx-helo (RFC 8460 §4.4).
	HELO string

	d        *Delivery
	host     string
	allowed  bool
	recorded bool
	deliver  bool
	cert     *certCheck // set by TLSConfig
	// What Record recorded for a failed session (see Outcome).
	result tlsrpt.ResultType
	reason string
}

// certCheck is what the VerifyConnection of a Session's TLS config found.
type certCheck struct {
	done bool
	err  error
}

// errNotVerified is the error a Session records when a handshake under an
// enforced or testing policy completed with a tls.Config other than
// TLSConfig's and the connection state holds no certificate to check.
var errNotVerified = errors.New("policycache: the MX certificate was not checked (use Session.TLSConfig)")

// Host returns the MX host name of the session, as given to Session.
func (s *Session) Host() string { return s.host }

// Try reports whether to connect to the host at all: false for a host
// that an enforced policy does not allow (RFC 8461 §4.1, §5: such a host is
// treated as unreachable, and nothing is recorded). Under mode testing a
// host the policy does not allow is tried, and the mismatch is reported.
func (s *Session) Try() bool {
	return s.allowed || !s.d.res.Enforced()
}

// TLSConfig returns the client *tls.Config for STARTTLS with the host, for
// the mode of the policy:
//
//   - enforce: the RFC 8461 §4.2 checks (PKIX chain to a trusted root,
//     validity, a DNS-ID matching the host) run in the handshake, which
//     fails with the *mtasts.CertificateError of a bad certificate;
//   - testing: the handshake completes whatever the certificate; the
//     checks run in it all the same, and Record reports what they found;
//   - none, or no policy: opportunistic TLS, the certificate is not
//     checked and no certificate problem is reported.
//
// ServerName (SNI) is the host in A-labels. The config is for this session
// only.
func (s *Session) TLSConfig() *tls.Config {
	res := &s.d.res
	if !res.Enforced() && !res.Testing() {
		name, err := mtasts.NormalizeDomain(s.host)
		if err != nil {
			name = strings.TrimSuffix(s.host, ".")
		}
		return &tls.Config{ServerName: name, InsecureSkipVerify: true}
	}
	cfg := mtasts.MXTLSConfig(s.host, s.d.verify)
	check := new(certCheck)
	s.cert = check
	verify, enforce := cfg.VerifyConnection, res.Enforced()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		check.done, check.err = true, verify(cs)
		if enforce {
			return check.err
		}
		return nil
	}
	return cfg
}

// Record records the session in the Delivery's Collector, once, and
// reports whether to send the message in it. Call it after STARTTLS: conn
// is the connection to the MX host (its addresses become sending-mta-ip
// and receiving-ip), state the TLS connection state when the handshake
// completed (nil or zero otherwise), and err nil when it completed, the
// handshake's error, or tlsrpt.ErrSTARTTLSNotSupported (wrapped or not)
// when the host did not offer STARTTLS.
//
// What is recorded, by the first rule that applies (RFC 8460 §4.3, §4.4;
// RFC 8461 §6):
//
//  1. No policy is in force because its fetch failed (Result.Failure with
//     a nil Policy): a failure of that type (sts-policy-fetch-error,
//     sts-policy-invalid or sts-webpki-invalid), with what went wrong as
//     the reason ("HTTP status 404", "network error: connection
//     refused"). With no policy no TLS check applies, so the failed fetch
//     is what the session shows.
//  2. The host is not allowed by a testing policy: validation-failure
//     with reason ReasonMXNotInPolicy.
//  3. STARTTLS was not offered, the handshake failed, or (mode testing)
//     the certificate failed the §4.2 checks: the result type and reason
//     of tlsrpt.Classify.
//  4. A cached policy is applied because its replacement could not be
//     fetched (Result.Failure with a Policy): a failure of that type, with
//     its reason as in rule 1.
//  5. Otherwise a success.
//
// The message is sent (true) when TLS was negotiated and, under an
// enforced policy, the certificate passed; without STARTTLS it is sent in
// plain text unless the policy is enforced (§5). After a failed handshake
// the connection cannot carry it: false, and the MTA tries the next MX.
// Under an enforced policy a host that Try refused is never sent to.
//
// Later calls record nothing and return the first answer. A session the
// Collector refuses (see tlsrpt.PolicyCounter.Failure) is counted by
// Collector.Dropped and logged there.
func (s *Session) Record(conn net.Conn, state *tls.ConnectionState, err error) bool {
	if s.recorded {
		return s.deliver
	}
	s.recorded = true
	res := &s.d.res
	if !s.Try() {
		return false
	}
	tlsUp := err == nil && state != nil && state.HandshakeComplete
	noTLS := errors.Is(err, tlsrpt.ErrSTARTTLSNotSupported)
	if err == nil && !tlsUp {
		// No error, but no TLS either: the caller skipped STARTTLS.
		err, noTLS = tlsrpt.ErrSTARTTLSNotSupported, true
	}
	if tlsUp && (res.Enforced() || res.Testing()) {
		err = s.certError(state)
	}
	switch {
	case res.Enforced():
		s.deliver = tlsUp && err == nil
	default:
		s.deliver = tlsUp || noTLS
	}

	var rt tlsrpt.ResultType
	var reason string
	switch {
	case res.Failure != "" && res.Policy == nil:
		rt, reason = res.Failure, s.d.fetchReason
	case !s.allowed:
		rt, reason = tlsrpt.ResultValidationFailure, ReasonMXNotInPolicy
	case err != nil:
		rt, reason = tlsrpt.Classify(err)
	case res.Failure != "":
		rt, reason = res.Failure, s.d.fetchReason
	default:
		if pc := s.d.counter; pc != nil {
			pc.Success()
		}
		return s.deliver
	}
	s.result, s.reason = rt, reason
	pc := s.d.counter
	if pc == nil {
		return s.deliver
	}
	fd := tlsrpt.FailureDetail{
		ResultType:          rt,
		ReceivingMXHostname: mxName(s.host),
		ReceivingMXHelo:     s.HELO,
		FailureReasonCode:   reason,
	}
	if conn != nil {
		fd.SendingMTAIP = addrIP(conn.LocalAddr())
		fd.ReceivingIP = addrIP(conn.RemoteAddr())
	}
	pc.Failure(fd)
	return s.deliver
}

// Outcome returns what Record recorded for the session: the result type
// and failure-reason-code of a failure (RFC 8460 §4.3, §4.4), or "" for a
// success, a host that was not tried and a session not recorded yet. It is
// for the MTA's log; the Collector has the session already.
func (s *Session) Outcome() (result tlsrpt.ResultType, reason string) {
	return s.result, s.reason
}

// certError returns the outcome of the §4.2 checks of a completed
// handshake: what the VerifyConnection of TLSConfig found, or, when the
// handshake used another config, the checks run now on state.
func (s *Session) certError(state *tls.ConnectionState) error {
	if s.cert != nil && s.cert.done {
		return s.cert.err
	}
	if len(state.PeerCertificates) == 0 {
		return errNotVerified
	}
	return mtasts.VerifyMXCertificate(state.PeerCertificates, s.host, s.d.verify)
}

// mxName is host as TLS-RPT reports it: A-labels, lower case, no trailing
// dot; a host that is not a valid name is reported as given.
func mxName(host string) string {
	if name, err := mtasts.NormalizeDomain(host); err == nil {
		return name
	}
	return host
}

// addrIP returns the IP address of a TCP (or UDP, IP) address, IPv4 in its
// 4-byte form and without zone, or the zero Addr for any other address.
func addrIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.IPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if a != nil {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	return ip.Unmap().WithZone("")
}
