package world

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &HTTPS{
		Name: cert.Leaf.DNSNames[0],
		Addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
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
