package tlsrpt

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"time"
)

// defaultSMTPTimeout bounds an SMTP exchange whose context has no
// deadline.
const defaultSMTPTimeout = 5 * time.Minute

// An SMTPRelay sends report emails through one SMTP relay or submission
// server with net/smtp. Its Send method has the type of Sender.Mail:
//
//	s.Mail = (&tlsrpt.SMTPRelay{Addr: "smtp.sender.example:587"}).Send
//
// The relay must deliver despite MTA-STS or DANE failures of the
// destination (RFC 8460 §5.3.1; messages carry "TLS-Required: No", which
// RFC 8689 relays honour). An SMTPRelay is safe for concurrent use; do not
// change its fields after first use.
type SMTPRelay struct {
	// Addr is the server's host:port. Its host names the server for
	// STARTTLS certificate verification and for Auth.
	Addr string
	// Auth, when not nil, authenticates after STARTTLS (net/smtp sends
	// PLAIN credentials only over TLS or to localhost).
	Auth smtp.Auth
	// TLSConfig is used for STARTTLS; nil means verifying the certificate
	// for the host of Addr with the system roots. An empty ServerName is
	// set to the host of Addr.
	TLSConfig *tls.Config
	// Dial opens the connection to Addr, with network "tcp": through a
	// proxy, from a chosen source address, or to a fixed IP address. Nil
	// means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// EHLOName is the host name the client greets with (RFC 5321 §4.1.1.1):
	// the MTA's own name, for example "mta1.sender.example". Empty means
	// "localhost", which relays may refuse.
	EHLOName string
	// AllowPlaintext lets Send go on without TLS when the server does not
	// offer STARTTLS, for a relay on the loopback interface or one reached
	// through a trusted tunnel. By default a server without STARTTLS is an
	// error (retried later): a report and the credentials of Auth do not
	// cross a network in the clear. It does not weaken the certificate
	// check of a server that offers STARTTLS.
	AllowPlaintext bool
}

// ErrNoSTARTTLS is returned by SMTPRelay.Send when the server does not offer
// STARTTLS and AllowPlaintext is not set.
var ErrNoSTARTTLS = errors.New("tlsrpt: the SMTP relay does not offer STARTTLS")

// SendSMTP sends m through the SMTP server at addr (host:port), a relay or
// submission server, with net/smtp: EHLO localhost, STARTTLS (with
// config, or verifying the certificate for the host of addr when config is
// nil; a server that does not offer it is an error), AUTH when auth is not
// nil, then MAIL, RCPT, DATA and QUIT. The whole exchange ends when ctx
// does, or after 5 minutes if ctx has no deadline. It is the Send of an
// SMTPRelay with these fields; an SMTPRelay also lets the caller choose
// the EHLO name, how to dial and whether to go on without TLS.
func (m *Message) SendSMTP(ctx context.Context, addr string, auth smtp.Auth, config *tls.Config) error {
	r := SMTPRelay{Addr: addr, Auth: auth, TLSConfig: config}
	return r.Send(ctx, m)
}

// Send sends m to the relay with net/smtp: EHLO (EHLOName), STARTTLS
// (ErrNoSTARTTLS when the server does not offer it, unless
// AllowPlaintext), AUTH when Auth is not nil, then MAIL, RCPT, DATA and
// QUIT.
// The whole exchange, dialing included, ends when ctx does, or after 5
// minutes if ctx has no deadline. SMTP replies with an error code are
// returned as *textproto.Error.
func (r *SMTPRelay) Send(ctx context.Context, m *Message) (err error) {
	addr, auth, config := r.Addr, r.Auth, r.TLSConfig
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSMTPTimeout)
		defer cancel()
	}
	dial := r.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	// The context's end interrupts the exchange; the deadline is a
	// backstop, later, so that the error says it was the context.
	deadline, _ := ctx.Deadline()
	deadline = deadline.Add(time.Second)
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		if err != nil && ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
	}()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if r.EHLOName != "" {
		if err := c.Hello(r.EHLOName); err != nil {
			return err
		}
	}
	if ok, _ := c.Extension("STARTTLS"); !ok && !r.AllowPlaintext {
		return ErrNoSTARTTLS
	} else if ok {
		cfg := config
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		} else if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.From); err != nil {
		return err
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.Data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
