package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// Server limits. A policy request is one short GET; a policy is a few
// hundred bytes.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 20 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 8 << 10
	shutdownTimeout   = 10 * time.Second
)

// siteSet is one loaded configuration, never changed once served.
type siteSet struct {
	sites    []site // as configured
	byDomain map[string]*site
}

func newSiteSet(sites []site) *siteSet {
	s := &siteSet{sites: sites, byDomain: make(map[string]*site, len(sites))}
	for i := range sites {
		s.byDomain[sites[i].domain] = &sites[i]
	}
	return s
}

// host is the running policy host: the configuration being served, the
// certificates, and the output for the operator.
type host struct {
	opts    *options
	logger  *slog.Logger
	handler *mtasts.Handler
	current atomic.Pointer[siteSet]

	// Static certificate mode: the chain of -cert and -key.
	cert atomic.Pointer[tls.Certificate]
	// ACME mode: the certificate manager and its workers.
	acme *acmeHost
	// digest is the SHA-256 of the configuration last read, served or
	// refused; -watch reloads when it changes. Used by the reload loop
	// only.
	digest [sha256.Size]byte

	outMu  sync.Mutex
	stdout io.Writer
}

// policy is the Policy function of the handler: the served configuration,
// read once per request.
func (h *host) policy(_ context.Context, domain string) (*mtasts.Policy, error) {
	if s := h.current.Load().byDomain[domain]; s != nil {
		return s.policy, nil
	}
	return nil, nil
}

// say writes one message for the operator to stdout, whole.
func (h *host) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	h.outMu.Lock()
	defer h.outMu.Unlock()
	io.WriteString(h.stdout, msg)
}

// newServer returns an http.Server for h with the program's limits.
func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve runs the policy host for sites until ctx ends or a server fails.
func serve(ctx context.Context, o *options, e *env, sites []site, digest [sha256.Size]byte) error {
	h := &host{opts: o, logger: slog.New(slog.NewTextHandler(e.stderr, nil)), stdout: e.stdout, digest: digest}
	h.current.Store(newSiteSet(sites))
	h.handler = &mtasts.Handler{Policy: h.policy, Logger: h.logger}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := newServer(h.handler, h.logger)
	scheme := "https"
	switch {
	case o.certFile != "":
		cert, err := loadCertificate(o.certFile, o.keyFile, sites)
		if err != nil {
			return err
		}
		h.cert.Store(cert)
		srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cert.Load(), nil },
		}
	case o.acmeCache != "":
		a, err := newACMEHost(ctx, o, h)
		if err != nil {
			return err
		}
		h.acme = a
		srv.TLSConfig = a.manager.TLSConfig()
		srv.TLSConfig.MinVersion = tls.VersionTLS12
	default:
		scheme = "http"
		h.logger.Warn("serving plain HTTP: senders fetch policies over HTTPS only (RFC 8461 §3.3); a proxy in front must terminate TLS for every mta-sts.<domain>, or give -acme-cache or -cert and -key")
	}

	ln, err := e.listen("tcp", o.addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if h.acme != nil && o.httpAddr != "" {
		hln, err := e.listen("tcp", o.httpAddr)
		if err != nil {
			ln.Close()
			return err
		}
		servers = append(servers, newServer(h.acme.manager.HTTPHandler(nil), h.logger))
		listeners = append(listeners, hln)
	}

	h.say("serving the policies of %d domains on %s://%s%s (by Host: mta-sts.<domain>)", len(sites), scheme, ln.Addr(), mtasts.PolicyPath)
	if len(listeners) > 1 {
		h.say("answering ACME HTTP-01 challenges on http://%s", listeners[1].Addr())
	}
	for _, s := range publishingOrder(sites) {
		h.say("  mta-sts.%s: mode %s, id %s", s.domain, s.policy.Mode, s.id)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(listeners[i], "", "")
			} else {
				err = srv.Serve(listeners[i])
			}
			errc <- err
		}()
	}
	var wg sync.WaitGroup
	var ticks <-chan time.Time
	if o.watch > 0 {
		var stopTicks func()
		ticks, stopTicks = e.ticker(o.watch)
		defer stopTicks()
	}
	wg.Go(func() { h.reloadLoop(ctx, e.reload, ticks) })
	if h.acme != nil {
		h.acme.certify(sites, false)
	}

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-errc:
	}
	cancel()
	shutdown, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	for _, srv := range servers {
		srv.Shutdown(shutdown)
	}
	wg.Wait()
	if h.acme != nil {
		h.acme.wait()
	}
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return failed
	}
	return nil
}

// loadCertificate reads a certificate chain and its key and checks that it
// is valid for mta-sts.<domain> of every site: senders reject the policy
// otherwise (RFC 8461 §3.3, sts-webpki-invalid).
func loadCertificate(certFile, keyFile string, sites []site) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range sites {
		if err := cert.Leaf.VerifyHostname("mta-sts." + s.domain); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", certFile, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &cert, nil
}
