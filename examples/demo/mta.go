package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// mta is the sending MTA of the demo: it asks a policycache.Cache which
// MTA-STS policy applies to the recipient's domain, walks the domain's MX
// hosts in order of preference (RFC 8461 §5.1), validates each one under
// the policy (§4.1 host name, §4.2 certificate), and records every session
// in a tlsrpt.Collector for the day's TLS-RPT report.
type mta struct {
	name      string // the EHLO name
	cache     *policycache.Cache
	collector *tlsrpt.Collector
	net       *world.Network
	verify    mtasts.VerifyOptions
	out       io.Writer
}

// errNotDelivered is returned when no MX host took the message.
var errNotDelivered = errors.New("not delivered: no MX host passed validation (the MTA keeps the message queued and tries again later)")

// deliver delivers one message to rcpt and prints each decision. It
// returns the MX host that took the message.
func (m *mta) deliver(ctx context.Context, from, rcpt string, data []byte) (string, error) {
	_, domain, ok := strings.Cut(rcpt, "@")
	if !ok {
		return "", fmt.Errorf("recipient %q has no domain", rcpt)
	}
	res, err := m.cache.Lookup(ctx, domain)
	if err != nil {
		return "", err
	}
	m.printLookup(res)
	mxs, err := m.net.Resolver.LookupMX(ctx, domain)
	if err != nil {
		return "", err
	}
	pc := m.collector.Counter(res.AppliedPolicy)
	tag := modeTag(res)
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		allowed := res.AllowsMX(host)
		if !allowed && res.Enforced() {
			// RFC 8461 §4.1, §8.4: an MX host the policy does not list is
			// treated like an unreachable one. Nothing was attempted, so
			// there is no session to report (see package policycache).
			fmt.Fprintf(m.out, "  %s %s: not listed in the policy -> skip (not delivered to this MX)\n", tag, host)
			continue
		}
		s, err := m.session(ctx, host, res)
		if err != nil {
			// No session: RFC 8460 has no result type for a host that
			// cannot be reached; try the next one.
			fmt.Fprintf(m.out, "  %s %s: %v -> next MX\n", tag, host, err)
			continue
		}
		m.record(pc, res, s, allowed)
		switch {
		case !allowed:
			fmt.Fprintf(m.out, "  %s %s: not listed in the policy -> deliver anyway, report the failure\n", tag, host)
		case s.tlsErr == nil:
			fmt.Fprintf(m.out, "  %s %s: %s -> deliver\n", tag, host, s.tlsDesc)
		case res.Enforced():
			fmt.Fprintf(m.out, "  %s %s: %s -> skip (not delivered to this MX)\n", tag, host, s.failure())
			s.client.close()
			continue
		case !s.usable:
			fmt.Fprintf(m.out, "  %s %s: %s -> next MX (the session is unusable)\n", tag, host, s.failure())
			s.client.close()
			continue
		default:
			fmt.Fprintf(m.out, "  %s %s: %s -> deliver anyway, report the failure\n", tag, host, s.failure())
		}
		err = s.send(m.name, from, []string{rcpt}, data)
		s.client.close()
		if err != nil {
			fmt.Fprintf(m.out, "  %s %s: %v -> next MX\n", tag, host, err)
			continue
		}
		fmt.Fprintf(m.out, "  => delivered to %s\n", host)
		return host, nil
	}
	fmt.Fprintf(m.out, "  => %v\n", errNotDelivered)
	return "", errNotDelivered
}

// printLookup shows what the policy cache said.
func (m *mta) printLookup(res policycache.Result) {
	var b strings.Builder
	fmt.Fprintf(&b, "  policy for %s: ", res.Domain)
	switch {
	case res.Policy == nil:
		b.WriteString("none")
	default:
		fmt.Fprintf(&b, "id %s, mode %s, mx %s", short(res.ID), res.Policy.Mode, strings.Join(res.Policy.MX, " "))
		switch {
		case !res.FromCache:
			b.WriteString(" (fetched from https://" + "mta-sts." + res.Domain + ")")
		case res.Fresh:
			b.WriteString(" (cached, TXT id unchanged)")
		default:
			b.WriteString(" (cached, no live policy: still applied)")
		}
	}
	if res.Failure != "" {
		fmt.Fprintf(&b, "; TLS-RPT: %s", res.Failure)
	}
	if res.Err != nil {
		fmt.Fprintf(&b, "\n    because: %s", cause(res.Err))
	}
	fmt.Fprintln(m.out, b.String())
}

// modeTag is the "[enforce]" tag of the decision lines.
func modeTag(res policycache.Result) string {
	if res.Policy == nil || res.Policy.Mode == mtasts.ModeNone {
		return "[no policy]"
	}
	return "[" + string(res.Policy.Mode) + "]"
}

// short abbreviates a policy id for display.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// session is an SMTP session with one MX host, up to and including
// STARTTLS, and what the TLS validation found.
type session struct {
	host    string
	client  *smtpClient
	local   netip.Addr
	remote  netip.Addr
	tlsDesc string // how TLS went, for a successful validation
	tlsErr  error  // why validation failed, nil if it passed
	secure  bool   // the session runs over TLS
	usable  bool   // a message can be sent in the session
}

// failure describes s.tlsErr as its TLS-RPT result type.
func (s *session) failure() string {
	rt, reason := tlsrpt.Classify(s.tlsErr)
	if reason != "" {
		return fmt.Sprintf("%s (%s)", rt, reason)
	}
	return string(rt)
}

// session connects to host and negotiates TLS as the policy requires:
//
//   - enforce: the handshake itself runs the RFC 8461 §4.2 checks
//     (mtasts.MXTLSConfig); a certificate that fails aborts it;
//   - testing: the handshake accepts any certificate, then
//     mtasts.VerifyMXCertificate says what to report, and the message is
//     delivered anyway;
//   - no policy: opportunistic TLS, nothing is verified.
//
// A handshake that fails leaves no usable session; under testing or no
// policy a real MTA would then try again in plain text; this one moves on
// to the next MX host.
func (m *mta) session(ctx context.Context, host string, res policycache.Result) (*session, error) {
	c, err := dialSMTP(ctx, m.net.DialContext, net.JoinHostPort(host, "25"))
	if err != nil {
		return nil, err
	}
	s := &session{host: host, client: c}
	s.local = addrIP(c.conn.LocalAddr())
	s.remote = addrIP(c.conn.RemoteAddr())
	starttls, err := c.ehlo(m.name)
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	if !starttls {
		s.tlsErr = errNoSTARTTLS(host)
		s.usable = !res.Enforced() // plain text, as without MTA-STS
		return s, nil
	}
	var cfg *tls.Config
	if res.Enforced() {
		cfg = mtasts.MXTLSConfig(host, m.verify)
	} else {
		// Testing mode and opportunistic TLS: the handshake takes any
		// certificate; it is checked afterwards.
		cfg = &tls.Config{ServerName: host, InsecureSkipVerify: true}
	}
	state, err := c.startTLS(ctx, cfg)
	if err != nil {
		s.tlsErr = err
		return s, nil
	}
	s.secure, s.usable = true, true
	s.tlsDesc = tls.VersionName(state.Version)
	if res.Testing() {
		s.tlsErr = mtasts.VerifyMXCertificate(state.PeerCertificates, host, m.verify)
	}
	if res.Enforced() || res.Testing() {
		s.tlsDesc += ", certificate valid"
	}
	return s, nil
}

// send transfers the message in the session, after a new EHLO over TLS.
func (s *session) send(ehlo, from string, to []string, data []byte) error {
	if s.secure {
		if _, err := s.client.ehlo(ehlo); err != nil {
			return err
		}
	}
	return s.client.send(from, to, data)
}

// record counts the session for TLS-RPT (RFC 8460 §4.4) by the convention
// of package policycache: a failure with its result type when validation
// failed (the host name under a testing policy, then TLS); else, when the
// policy lookup itself failed (a cached policy applied because the new one
// could not be fetched, RFC 8461 §6), a failure of that type; else a
// success.
func (m *mta) record(pc *tlsrpt.PolicyCounter, res policycache.Result, s *session, allowed bool) {
	d := tlsrpt.FailureDetail{
		SendingMTAIP:        s.local,
		ReceivingMXHostname: s.host,
		ReceivingMXHelo:     s.client.helo,
		ReceivingIP:         s.remote,
	}
	switch {
	case !allowed:
		d.ResultType, d.FailureReasonCode = tlsrpt.ResultValidationFailure, policycache.ReasonMXNotInPolicy
	case s.tlsErr != nil:
		d.ResultType, d.FailureReasonCode = tlsrpt.Classify(s.tlsErr)
	case res.Failure != "":
		d.ResultType = res.Failure
	default:
		pc.Success()
		return
	}
	pc.Failure(d)
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// mailReport delivers a TLS-RPT report email (the Mail hook of
// tlsrpt.Sender) to the MX hosts of its recipients' domain. RFC 8460
// §5.3.1: MTA-STS failures must not block it ("TLS-Required: No", RFC
// 8689), so it uses opportunistic TLS whatever the policy says, and its
// sessions are not counted for the next report.
func (m *mta) mailReport(ctx context.Context, msg *tlsrpt.Message) error {
	_, domain, _ := strings.Cut(msg.To[0], "@")
	mxs, err := m.net.Resolver.LookupMX(ctx, domain)
	if err != nil {
		return err
	}
	var errs []error
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		s, err := m.session(ctx, host, policycache.Result{})
		if err == nil && !s.usable {
			s.client.close()
			err = s.tlsErr
		}
		if err == nil {
			err = s.send(m.name, msg.From, msg.To, msg.Data)
			s.client.close()
		}
		if err == nil {
			fmt.Fprintf(m.out, "  report email for %s handed to %s (opportunistic TLS, TLS-Required: No)\n", strings.Join(msg.To, ", "), host)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", host, err))
	}
	return errors.Join(errs...)
}

// cause describes why discovery gave no live policy, shorter than the
// error's full text: the rule a fetch broke and the innermost error.
func cause(err error) string {
	inner := err
	for {
		next := errors.Unwrap(inner)
		if next == nil {
			break
		}
		inner = next
	}
	var fe *mtasts.FetchError
	if errors.As(err, &fe) {
		return fmt.Sprintf("fetching %s failed (%s): %v", fe.URL, fe.Reason, inner)
	}
	return err.Error()
}
