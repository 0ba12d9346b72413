package mtasts_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// mxHost starts a TLS server on loopback that presents cert. A real MX
// host speaks SMTP and starts TLS after the STARTTLS command; the
// handshake is the same.
func mxHost(cert tls.Certificate) (addr string, stop func()) {
	ln := exampleMust(tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	return ln.Addr().String(), func() { _ = ln.Close() }
}

func ExampleMXTLSConfig() {
	pki := newExamplePKI()
	addr, stop := mxHost(pki.certificate("*.example.com"))
	defer stop()

	// The policy of example.com lists "mx: *.example.com"; the MX records
	// name these hosts, all of which resolve (here) to the same server.
	for _, host := range []string{"mx1.example.com", "MX2.EXAMPLE.COM.", "a.b.example.com"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println(err)
			return
		}
		// Roots nil means the system roots; the example trusts its own CA.
		cfg := mtasts.MXTLSConfig(host, mtasts.VerifyOptions{Roots: pki.roots})
		// With net/smtp: client.StartTLS(cfg).
		err = tls.Client(conn, cfg).HandshakeContext(context.Background())
		_ = conn.Close()

		var ce *mtasts.CertificateError
		switch {
		case err == nil:
			fmt.Printf("%s: TLS verified\n", host)
		case errors.As(err, &ce):
			fmt.Printf("%s: %s\n", ce.Host, ce.Reason)
		default:
			fmt.Println(err)
		}
	}
	// Output:
	// mx1.example.com: TLS verified
	// MX2.EXAMPLE.COM.: TLS verified
	// a.b.example.com: host mismatch
}

// In testing mode a sender delivers whatever the certificate, but reports
// what was wrong with TLS-RPT: it completes the handshake without
// verification and checks the certificates afterwards.
func ExampleVerifyMXCertificate() {
	pki := newExamplePKI()
	cert := pki.certificate("mx1.example.com")
	addr, stop := mxHost(cert)
	defer stop()

	conn := exampleMust(tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}))
	certs := conn.ConnectionState().PeerCertificates
	_ = conn.Close()

	check := func(what, host string, opts mtasts.VerifyOptions) {
		err := mtasts.VerifyMXCertificate(certs, host, opts)
		var ce *mtasts.CertificateError
		var hostErr x509.HostnameError
		switch {
		case err == nil:
			fmt.Printf("%s: valid\n", what)
		case errors.As(err, &hostErr):
			// A TLS-RPT classifier finds the crypto/x509 error inside.
			fmt.Printf("%s: host mismatch (x509.HostnameError for %s)\n", what, hostErr.Host)
		case errors.As(err, &ce):
			fmt.Printf("%s: %s\n", what, ce.Reason)
		}
	}
	inTwoDays := func() time.Time { return time.Now().Add(48 * time.Hour) }
	check("mx1.example.com", "mx1.example.com", mtasts.VerifyOptions{Roots: pki.roots})
	check("mx2.example.com", "mx2.example.com", mtasts.VerifyOptions{Roots: pki.roots})
	check("mx1.example.com in two days", "mx1.example.com", mtasts.VerifyOptions{Roots: pki.roots, Now: inTwoDays})
	check("mx1.example.com with other roots", "mx1.example.com", mtasts.VerifyOptions{Roots: x509.NewCertPool()})
	// Output:
	// mx1.example.com: valid
	// mx2.example.com: host mismatch (x509.HostnameError for mx2.example.com)
	// mx1.example.com in two days: expired
	// mx1.example.com with other roots: not trusted
}
