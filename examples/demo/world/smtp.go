package world

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Limits of the SMTP listener: every connection gets sessionTimeout in
// all and may send at most maxSessionBytes; command lines are limited to
// RFC 5321's 512 octets, text lines to 1000.
const (
	sessionTimeout  = 10 * time.Second
	maxSessionBytes = 1 << 20
	maxCommandLine  = 512
	maxTextLine     = 1000
)

// Message is a message an SMTP listener accepted.
type Message struct {
	From string
	To   []string
	// Data is the message with CRLF line endings, dot-unstuffed.
	Data []byte
	// TLS reports that the message came over STARTTLS.
	TLS bool
}

// SMTP is a receiving MX: an SMTP listener on a random loopback port that
// offers STARTTLS (RFC 3207) with its certificate and speaks just enough
// SMTP (RFC 5321) to take messages: EHLO, HELO, STARTTLS, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT.
type SMTP struct {
	// Name is the host name the MX greets with.
	Name string
	// Addr is the "127.0.0.1:port" address of the listener.
	Addr string

	ln   net.Listener
	tls  *tls.Config
	wg   sync.WaitGroup
	mu   sync.Mutex
	msgs []Message
	open map[net.Conn]struct{}
}

// ListenSMTP starts an MX called name that presents cert after STARTTLS,
// on a random port of 127.0.0.1.
func ListenSMTP(name string, cert tls.Certificate) (*SMTP, error) {
	return ListenSMTPAt("127.0.0.1:0", name, cert)
}

// ListenSMTPAt is ListenSMTP on the loopback address addr, such as
// "127.0.0.2:25" inside a private network namespace.
func ListenSMTPAt(addr, name string, cert tls.Certificate) (*SMTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &SMTP{
		Name: name,
		Addr: ln.Addr().String(),
		ln:   ln,
		tls:  &tls.Config{Certificates: []tls.Certificate{cert}},
		open: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Messages returns the messages accepted so far.
func (s *SMTP) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Close stops the listener, closes open sessions and waits for them.
func (s *SMTP) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SMTP) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.open[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// errLineTooLong ends a session whose client sent an overlong line.
var errLineTooLong = errors.New("line too long")

// smtpConn is the reading and writing side of a session, replaced after
// STARTTLS.
type smtpConn struct {
	r *bufio.Reader
	w io.Writer
}

// line reads one line of at most limit octets, without its CRLF.
func (c smtpConn) line(limit int) (string, error) {
	var b []byte
	for {
		chunk, more, err := c.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > limit {
			return "", errLineTooLong
		}
		if !more {
			return string(b), nil
		}
	}
}

func (c smtpConn) reply(lines ...string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := io.WriteString(c.w, b.String())
	return err
}

// session runs one SMTP session on c until QUIT, an error or the limits.
func (s *SMTP) session(c net.Conn) {
	c.SetDeadline(time.Now().Add(sessionTimeout))
	budget := &io.LimitedReader{R: c, N: maxSessionBytes}
	conn := smtpConn{r: bufio.NewReader(budget), w: c}
	secure := false
	var msg *Message
	if conn.reply("220 "+s.Name+" ESMTP smtpsec demo") != nil {
		return
	}
	for {
		line, err := conn.line(maxCommandLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				conn.reply("500 5.5.2 line too long")
			}
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-" + s.Name + " greets " + arg}
			if !secure {
				lines = append(lines, "250-STARTTLS")
			}
			err = conn.reply(append(lines, "250 8BITMIME")...)
			msg = nil
		case "HELO":
			err = conn.reply("250 " + s.Name)
		case "STARTTLS":
			if secure {
				err = conn.reply("503 5.5.1 TLS already active")
				break
			}
			if err = conn.reply("220 2.0.0 ready to start TLS"); err != nil {
				return
			}
			if conn.r.Buffered() > 0 {
				// RFC 3207 §4: no command may be pipelined after STARTTLS.
				return
			}
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				// The client rejected the certificate (or the reverse):
				// there is nothing more to say.
				return
			}
			budget.R = tc
			conn = smtpConn{r: bufio.NewReader(budget), w: tc}
			secure, msg = true, nil
		case "MAIL":
			from, ok := path(arg, "FROM:")
			if !ok {
				err = conn.reply("501 5.5.4 syntax: MAIL FROM:<address>")
				break
			}
			msg = &Message{From: from, TLS: secure}
			err = conn.reply("250 2.1.0 ok")
		case "RCPT":
			to, ok := path(arg, "TO:")
			switch {
			case msg == nil:
				err = conn.reply("503 5.5.1 MAIL first")
			case !ok || to == "":
				err = conn.reply("501 5.5.4 syntax: RCPT TO:<address>")
			default:
				msg.To = append(msg.To, to)
				err = conn.reply("250 2.1.5 ok")
			}
		case "DATA":
			if msg == nil || len(msg.To) == 0 {
				err = conn.reply("503 5.5.1 RCPT first")
				break
			}
			if err = conn.reply("354 end data with <CR><LF>.<CR><LF>"); err != nil {
				return
			}
			if msg.Data, err = readData(conn); err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, *msg)
			n := len(s.msgs)
			s.mu.Unlock()
			msg = nil
			err = conn.reply(fmt.Sprintf("250 2.0.0 ok: queued as %d", n))
		case "RSET":
			msg = nil
			err = conn.reply("250 2.0.0 ok")
		case "NOOP":
			err = conn.reply("250 2.0.0 ok")
		case "QUIT":
			conn.reply("221 2.0.0 bye")
			return
		default:
			err = conn.reply("502 5.5.2 command not recognized")
		}
		if err != nil {
			return
		}
	}
}

// path returns the address of a "FROM:<a>" or "TO:<a>" argument, ignoring
// parameters after it.
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

// readData reads the message text up to the line holding a single dot,
// undoing dot-stuffing (RFC 5321 §4.5.2).
func readData(conn smtpConn) ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := conn.line(maxTextLine)
		if err != nil {
			return nil, err
		}
		if line == "." {
			return b.Bytes(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
		b.WriteString("\r\n")
	}
}
