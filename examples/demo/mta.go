package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Limits of one SMTP session of the demo's MTA: its time, and the bytes it
// reads from the MX host (replies and TLS records).
const (
	sessionTimeout = 10 * time.Second
	maxReadBytes   = 256 << 10
)

// mta is the sending MTA of the demo: a policycache.Cache says which
// MTA-STS policy applies to the recipient's domain, a policycache.Delivery
// applies it to the domain's MX hosts in order of preference (RFC 8461 §4,
// §5) and records every session in a tlsrpt.Collector. The SMTP client is
// net/smtp.
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

// deliver delivers one message to rcpt and prints each decision.
func (m *mta) deliver(ctx context.Context, from, rcpt string, data []byte) error {
	domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
	res, err := m.cache.Lookup(ctx, domain)
	if err != nil {
		return err
	}
	m.printLookup(res)
	mxs, err := m.net.Resolver.LookupMX(ctx, domain)
	if err != nil {
		return err
	}
	d := policycache.NewDelivery(res, m.collector, m.verify)
	tag := modeTag(res)
	for _, mx := range mxs {
		s := d.Session(mx.Host)
		host := strings.TrimSuffix(mx.Host, ".")
		if !s.Try() {
			fmt.Fprintf(m.out, "  %s %s: not listed in the policy -> skip (not delivered to this MX)\n", tag, host)
			continue
		}
		c, state, sendOK, err := m.session(ctx, &s, host)
		if err != nil {
			// No session: RFC 8460 has no result type for a host that
			// cannot be reached; try the next one.
			fmt.Fprintf(m.out, "  %s %s: %v -> next MX\n", tag, host, err)
			continue
		}
		fmt.Fprintf(m.out, "  %s %s: %s -> %s\n", tag, host, describe(&s, state, res), decision(sendOK, res))
		if !sendOK {
			c.Close()
			continue
		}
		if err := transaction(c, from, []string{rcpt}, data); err != nil {
			fmt.Fprintf(m.out, "  %s %s: %v -> next MX\n", tag, host, err)
			continue
		}
		fmt.Fprintf(m.out, "  => delivered to %s\n", host)
		return nil
	}
	fmt.Fprintf(m.out, "  => %v\n", errNotDelivered)
	return errNotDelivered
}

// session connects to host, says EHLO, runs STARTTLS with the session's
// config when offered and records the session. It returns the client,
// the TLS state and whether to send the message in the session.
func (m *mta) session(ctx context.Context, s *policycache.Session, host string) (*smtp.Client, *tls.ConnectionState, bool, error) {
	raw, err := m.net.DialContext(ctx, "tcp", net.JoinHostPort(host, "25"))
	if err != nil {
		return nil, nil, false, err
	}
	raw.SetDeadline(time.Now().Add(sessionTimeout))
	conn := &limitedConn{Conn: raw, left: maxReadBytes}
	c, err := smtp.NewClient(conn, host)
	if err == nil {
		err = c.Hello(m.name)
	}
	if err != nil {
		raw.Close()
		return nil, nil, false, err
	}
	tlsErr := fmt.Errorf("%s: %w", host, tlsrpt.ErrSTARTTLSNotSupported)
	if ok, _ := c.Extension("STARTTLS"); ok {
		tlsErr = c.StartTLS(s.TLSConfig())
	}
	state, _ := c.TLSConnectionState()
	return c, &state, s.Record(raw, &state, tlsErr), nil
}

// describe says how TLS went, and what the session was recorded as.
func describe(s *policycache.Session, state *tls.ConnectionState, res policycache.Result) string {
	desc := "no TLS"
	if state.HandshakeComplete {
		desc = tls.VersionName(state.Version)
		if res.Enforced() || res.Testing() {
			desc += ", certificate valid"
		}
	}
	rt, reason := s.Outcome()
	switch {
	case rt == "":
		return desc
	case rt == res.Failure:
		// The session itself was fine; the policy behind it was not live.
		return fmt.Sprintf("%s; recorded as %s (%s): the policy could not be fetched", desc, rt, reason)
	case reason != "":
		return fmt.Sprintf("%s (%s)", rt, reason)
	}
	return string(rt)
}

// decision describes what Record said.
func decision(send bool, res policycache.Result) string {
	switch {
	case !send && res.Enforced():
		return "skip (not delivered to this MX)"
	case !send:
		return "next MX (the session is unusable)"
	case res.Testing():
		return "deliver (failures are reported)"
	}
	return "deliver"
}

// transaction sends one message in an open session and ends it.
func transaction(c *smtp.Client, from string, to []string, data []byte) error {
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// limitedConn fails reads past a byte budget, so that an MX host cannot
// make net/smtp buffer an endless reply.
type limitedConn struct {
	net.Conn
	left int64
}

var errReadLimit = errors.New("SMTP session read limit reached")

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReadLimit
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
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

// mailReport delivers a TLS-RPT report email (the Mail hook of
// tlsrpt.Sender) to the MX hosts of its recipients' domain. RFC 8460
// §5.3.1: MTA-STS failures must not block it ("TLS-Required: No", RFC
// 8689), so it delivers as to a domain without policy (opportunistic
// TLS), and its sessions are not counted for the next report.
func (m *mta) mailReport(ctx context.Context, msg *tlsrpt.Message) error {
	_, domain, _ := strings.Cut(msg.To[0], "@")
	mxs, err := m.net.Resolver.LookupMX(ctx, domain)
	if err != nil {
		return err
	}
	d := policycache.NewDelivery(policycache.Result{Domain: domain}, nil, m.verify)
	var errs []error
	for _, mx := range mxs {
		s := d.Session(mx.Host)
		host := strings.TrimSuffix(mx.Host, ".")
		c, _, sendOK, err := m.session(ctx, &s, host)
		if err == nil && !sendOK {
			c.Close()
			err = errors.New("TLS handshake failed")
		}
		if err == nil {
			err = transaction(c, msg.From, msg.To, msg.Data)
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
