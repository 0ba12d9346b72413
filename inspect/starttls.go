package inspect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/mtasts"
)

// maxProbeRead bounds what one STARTTLS probe reads from an MX host:
// greeting, EHLO replies and the TLS handshake, certificates included.
const maxProbeRead = 256 << 10

// Stages at which a STARTTLS probe stops, for the finding codes.
var (
	errProbeConnect  = errors.New("connecting")
	errProbeSMTP     = errors.New("SMTP dialogue")
	errProbeSTARTTLS = errors.New("STARTTLS")
)

// probe connects to the MX host of mx as a sending MTA does (RFC 8461
// §4.2 with RFC 3207): reads the greeting, sends EHLO, looks for the
// STARTTLS extension, upgrades the connection and records the
// certificate, then says QUIT. The handshake skips crypto/tls's own
// verification so that an invalid certificate can still be described;
// mtasts.VerifyMXCertificate judges it.
func (c *checker) probe(ctx context.Context, mx *MXHost) {
	ctx, cancel := c.step(ctx)
	defer cancel()
	port := c.opts.SMTPPort
	if port == "" {
		port = "25"
	}
	mx.Probed = true
	mx.Address = net.JoinHostPort(mx.Host, port)
	fail := func(stage, err error) {
		mx.Err = fmt.Errorf("%w: %w", stage, err)
		mx.Error = mx.Err.Error()
	}

	conn, err := c.dial(ctx, "tcp", mx.Address)
	if err != nil {
		fail(errProbeConnect, err)
		return
	}
	defer func() { _ = conn.Close() }()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// Cancellation interrupts any read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	client, err := smtp.NewClient(&limitedConn{Conn: conn, left: maxProbeRead}, mx.Host)
	if err != nil {
		fail(errProbeSMTP, fmt.Errorf("greeting: %w", err))
		return
	}
	defer func() { _ = client.Close() }()
	hello := c.opts.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := client.Hello(hello); err != nil {
		fail(errProbeSMTP, err)
		return
	}
	if mx.STARTTLS, _ = client.Extension("STARTTLS"); !mx.STARTTLS {
		_ = client.Quit()
		return
	}
	err = client.StartTLS(&tls.Config{ServerName: mx.Host, InsecureSkipVerify: true})
	// net/smtp runs the handshake on the EHLO after STARTTLS: a failed
	// EHLO may come after a complete handshake, whose certificate counts.
	if state, ok := client.TLSConnectionState(); ok && state.HandshakeComplete {
		mx.TLSVersion = tls.VersionName(state.Version)
		mx.Certificate = c.certificateInfo(state, mx.Host)
	}
	if err != nil {
		fail(errProbeSTARTTLS, err)
		return
	}
	_ = client.Quit()
}

// certificateInfo describes the certificate of a completed handshake with
// the MX host host.
func (c *checker) certificateInfo(state tls.ConnectionState, host string) *Certificate {
	if len(state.PeerCertificates) == 0 {
		return nil
	}
	leaf := state.PeerCertificates[0]
	info := &Certificate{
		Subject:   leaf.Subject.String(),
		Issuer:    leaf.Issuer.String(),
		DNSNames:  leaf.DNSNames,
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		Chain:     state.PeerCertificates,
	}
	info.Err = mtasts.VerifyMXCertificate(state.PeerCertificates, host, mtasts.VerifyOptions{Roots: c.opts.RootCAs, Now: func() time.Time { return c.now }})
	info.Valid = info.Err == nil
	if info.Err != nil {
		info.Error = info.Err.Error()
	}
	return info
}

// limitedConn fails reads once left bytes have been read.
type limitedConn struct {
	net.Conn
	left int
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("the server sent more than %d bytes", maxProbeRead)
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.Conn.Read(p)
	l.left -= n
	return n, err
}

// judgeProbe adds the findings of one MX host's STARTTLS probe.
func (c *checker) judgeProbe(mx *MXHost) {
	if !mx.Probed {
		return
	}
	h := mx.Host
	// The error may quote the server's replies: escaped.
	reason := escape.Text(fmt.Sprint(unwrapStage(mx.Err)))
	switch {
	case errors.Is(mx.Err, errProbeConnect):
		c.warn("mx-unreachable", h,
			fmt.Sprintf("could not connect to %s to check STARTTLS: %s", mx.Address, reason),
			"make sure the MX host accepts connections on port 25; if it does, outgoing port 25 may be blocked where the check ran")
		return
	case errors.Is(mx.Err, errProbeSMTP):
		c.warn("mx-smtp-error", h,
			fmt.Sprintf("the SMTP dialogue with %s failed before STARTTLS: %s", mx.Address, reason),
			"make sure the MX host greets with 220 and answers EHLO; it may also be refusing the address the check ran from")
		return
	case !mx.STARTTLS:
		c.fail("starttls-missing", h,
			fmt.Sprintf("%s does not offer STARTTLS after EHLO: senders applying the policy will not deliver to it (RFC 8461 §5)", h),
			"enable STARTTLS on the MX host with a certificate for "+h)
		return
	case mx.Certificate == nil:
		c.fail("starttls-failed", h,
			fmt.Sprintf("%s offers STARTTLS, but the upgrade to TLS failed: %s", h, reason),
			"check the MX host's TLS configuration: protocol versions (TLS 1.2 or later), cipher suites, certificate and key")
		return
	}
	cert := mx.Certificate
	var ce *mtasts.CertificateError
	if errors.As(cert.Err, &ce) {
		code, fix := "cert-invalid", "install a certificate for "+h+" that allows TLS server authentication"
		switch ce.Reason {
		case mtasts.CertificateExpired:
			code, fix = "cert-expired", "renew the certificate of "+h
		case mtasts.CertificateNotTrusted:
			code, fix = "cert-untrusted", "install a certificate for "+h+" from a public CA, with the intermediate certificates"
		case mtasts.CertificateHostMismatch:
			code, fix = "cert-name-mismatch", "install a certificate whose subject alternative names include "+h+" (a wildcard covers one label only)"
		}
		// The names and the verifier's error (which lists them) come from
		// the peer's certificate: escaped, so that they cannot forge lines
		// or drive a terminal.
		names := make([]string, len(cert.DNSNames))
		for i, n := range cert.DNSNames {
			names[i] = escape.Text(n)
		}
		c.fail(code, h, fmt.Sprintf("the certificate of %s (names %s, valid until %s) fails RFC 8461 §4.2: %s",
			h, strings.Join(names, ", "), cert.NotAfter.UTC().Format(time.DateOnly), escape.Text(fmt.Sprint(ce.Err))), fix)
		return
	}
	warnBefore := c.opts.CertExpiryWarning
	if warnBefore == 0 {
		warnBefore = DefaultCertExpiryWarning
	}
	if left := cert.NotAfter.Sub(c.now); warnBefore > 0 && left < warnBefore {
		c.warn("cert-expiring", h,
			fmt.Sprintf("the certificate of %s expires on %s, in %s", h, cert.NotAfter.UTC().Format(time.RFC3339), roundDays(left)),
			"renew the certificate of "+h+" now, and automate its renewal")
	}
	if mx.Err != nil {
		c.warn("mx-smtp-error", h, fmt.Sprintf("after STARTTLS, %s failed: %s", h, reason),
			"make sure the MX host answers EHLO after STARTTLS")
	}
}

// unwrapStage returns the error a probe failed with, without the stage.
func unwrapStage(err error) error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) == 2 {
			return errs[1]
		}
	}
	return err
}

// roundDays formats d in days, or in hours below two days, rounded.
func roundDays(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
}
