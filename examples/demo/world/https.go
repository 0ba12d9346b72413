package world

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"
)

// HTTPS is an HTTPS server on a random loopback port.
type HTTPS struct {
	// Name is the host name its certificate is for.
	Name string
	// Addr is the "127.0.0.1:port" address of the server.
	Addr string

	srv  *http.Server
	done chan struct{}
}

// ServeHTTPS starts an HTTPS server for the host name of cert, serving h.
func ServeHTTPS(cert tls.Certificate, h http.Handler) (*HTTPS, error) {
	return ServeHTTPSCerts(h, cert)
}

// ServeHTTPSCerts is ServeHTTPS for many host names, one certificate
// each, chosen by the name the client asks for (SNI). Name is that of the
// first certificate.
func ServeHTTPSCerts(h http.Handler, certs ...tls.Certificate) (*HTTPS, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &HTTPS{
		Name: certs[0].Leaf.DNSNames[0],
		Addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			TLSConfig:         &tls.Config{GetCertificate: certsByName(certs)},
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
			// Handshakes that clients abort are part of the story.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// ServeTLS returns when Close closes the listener.
		s.srv.ServeTLS(ln, "", "")
	}()
	return s, nil
}

// Close stops the server at once: its port refuses connections from now
// on.
func (s *HTTPS) Close() {
	s.srv.Close()
	<-s.done
}

// certsByName returns a GetCertificate function choosing among certs by
// the server name the client asks for; the first certificate for others.
func certsByName(certs []tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	byName := map[string]*tls.Certificate{}
	for i := range certs {
		for _, n := range certs[i].Leaf.DNSNames {
			byName[strings.ToLower(n)] = &certs[i]
		}
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := byName[strings.ToLower(hello.ServerName)]; c != nil {
			return c, nil
		}
		return &certs[0], nil
	}
}
