package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Limits of the sending MTA's SMTP client: one session takes at most
// sessionTimeout and reads at most maxReplyBytes of replies.
const (
	sessionTimeout = 10 * time.Second
	maxReplyBytes  = 64 << 10
)

// smtpClient is the sending side of one SMTP session (RFC 5321) with
// STARTTLS (RFC 3207), just what the demo's MTA needs.
type smtpClient struct {
	conn   net.Conn
	budget *io.LimitedReader
	text   *textproto.Conn
	// helo is the name the MX gave in its EHLO reply.
	helo string
}

// dialSMTP connects to addr with dial and reads the greeting.
func dialSMTP(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) (*smtpClient, error) {
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(sessionTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	c := &smtpClient{conn: conn, budget: &io.LimitedReader{R: conn, N: maxReplyBytes}}
	c.text = c.textConn(conn)
	if _, _, err := c.text.ReadResponse(220); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// textConn reads replies through the session's byte budget and writes
// to w.
func (c *smtpClient) textConn(w io.Writer) *textproto.Conn {
	return textproto.NewConn(struct {
		io.Reader
		io.Writer
		io.Closer
	}{bufio.NewReader(c.budget), w, c.conn})
}

// cmd sends a command and reads its reply, which must have code expect.
func (c *smtpClient) cmd(expect int, format string, args ...any) (string, error) {
	id, err := c.text.Cmd(format, args...)
	if err != nil {
		return "", err
	}
	c.text.StartResponse(id)
	defer c.text.EndResponse(id)
	_, msg, err := c.text.ReadResponse(expect)
	return msg, err
}

// ehlo greets the server and reports whether it offers STARTTLS.
func (c *smtpClient) ehlo(name string) (starttls bool, err error) {
	msg, err := c.cmd(250, "EHLO %s", name)
	if err != nil {
		return false, err
	}
	lines := strings.Split(msg, "\n")
	c.helo, _, _ = strings.Cut(lines[0], " ")
	for _, l := range lines[1:] {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			starttls = true
		}
	}
	return starttls, nil
}

// startTLS sends STARTTLS and runs the handshake with cfg. A certificate
// rejected by cfg's verification comes back as the handshake's error.
func (c *smtpClient) startTLS(ctx context.Context, cfg *tls.Config) (tls.ConnectionState, error) {
	if _, err := c.cmd(220, "STARTTLS"); err != nil {
		return tls.ConnectionState{}, err
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	c.budget.R = tc
	c.text = c.textConn(tc)
	return tc.ConnectionState(), nil
}

// send transfers one message to the recipients.
func (c *smtpClient) send(from string, to []string, data []byte) error {
	if _, err := c.cmd(250, "MAIL FROM:<%s>", from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if _, err := c.cmd(250, "RCPT TO:<%s>", rcpt); err != nil {
			return err
		}
	}
	if _, err := c.cmd(354, "DATA"); err != nil {
		return err
	}
	w := c.text.DotWriter()
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, _, err := c.text.ReadResponse(250)
	return err
}

// close ends the session politely if it can.
func (c *smtpClient) close() {
	c.cmd(221, "QUIT")
	c.conn.Close()
}

// errNoSTARTTLS wraps tlsrpt.ErrSTARTTLSNotSupported with the host name.
func errNoSTARTTLS(host string) error {
	return fmt.Errorf("%s: %w", host, tlsrpt.ErrSTARTTLSNotSupported)
}
