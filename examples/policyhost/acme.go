package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// defaultACMEDirectory is the directory of Let's Encrypt's production CA.
const defaultACMEDirectory = autocert.DefaultACMEDirectory

// acmeWorkers bounds the certificates requested at once, so that a
// configuration of many new domains does not hit the CA all together.
const acmeWorkers = 4

// acmeRequestTimeout bounds one HTTP exchange with the ACME server.
const acmeRequestTimeout = time.Minute

// acmeHost gets the certificates of the served domains from an ACME CA.
type acmeHost struct {
	host    *host
	manager *autocert.Manager
	ctx     context.Context // the program's: its end stops every request to the CA
	sem     chan struct{}
	wg      sync.WaitGroup
}

// newACMEHost sets up the certificate manager of o for h. Requests to the
// CA end when ctx does.
func newACMEHost(ctx context.Context, o *options, h *host) (*acmeHost, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if o.acmeRoots != "" {
		pem, err := os.ReadFile(o.acmeRoots)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-acme-roots %s: no PEM certificate in it", o.acmeRoots)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	dir := filepath.Join(o.acmeCache, cacheDirName(o.acmeDir))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a := &acmeHost{host: h, ctx: ctx, sem: make(chan struct{}, acmeWorkers)}
	a.manager = &autocert.Manager{
		Prompt: func(tosURL string) bool {
			h.logger.Info("acme: accepting the terms of service of the CA", "directory", o.acmeDir, "terms", tosURL)
			return true
		},
		Cache:      autocert.DirCache(dir),
		HostPolicy: h.handler.ServesHost,
		Email:      o.acmeEmail,
		Client: &acme.Client{
			DirectoryURL: o.acmeDir,
			UserAgent:    "smtpsec-policyhost",
			HTTPClient: &http.Client{
				Transport: &stopTransport{base: base, stop: ctx},
				Timeout:   acmeRequestTimeout,
			},
		},
	}
	h.say("ACME: certificates from %s, kept in %s", o.acmeDir, dir)
	return a, nil
}

// cacheDirName returns the subdirectory of the cache for the CA at
// directory: its host and port, so that certificates of two CAs never
// mix.
func cacheDirName(directory string) string {
	u, err := url.Parse(directory)
	if err != nil || u.Host == "" {
		return "default"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, u.Host)
}

// certify gets, in the background, the certificates of sites that the
// cache does not have yet. With announce, the records of each site are
// printed once its certificate is there: a policy that senders cannot
// fetch must not be announced (RFC 8461 §8.1).
func (a *acmeHost) certify(sites []site, announce bool) {
	for _, s := range sites {
		a.wg.Go(func() {
			select {
			case a.sem <- struct{}{}:
			case <-a.ctx.Done():
				return
			}
			defer func() { <-a.sem }()
			if a.ctx.Err() != nil {
				return
			}
			name := "mta-sts." + s.domain
			cert, err := a.manager.GetCertificate(ecdsaHello(name))
			if err != nil {
				if a.ctx.Err() == nil {
					a.host.logger.Warn("acme: no certificate", "host", name, "error", err)
					a.host.say("%s: no certificate yet (see the log); point %s at this host (A/AAAA or CNAME), then reload", s.domain, name)
				}
				return
			}
			a.host.say("%s: certificate for %s valid until %s", s.domain, name, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			if announce {
				a.host.sayRecords(s, "")
			}
		})
	}
}

// wait returns when every certify worker has.
func (a *acmeHost) wait() { a.wg.Wait() }

// ecdsaHello is what a modern TLS client sends, as far as autocert looks
// at it: a name and support for ECDSA, so that the certificate got ahead
// of the first sender is the one senders will get.
func ecdsaHello(name string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:       name,
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
	}
}

// stopTransport ends every request, and every response body being read,
// when stop ends: autocert gives its requests a context of its own, and
// the program must not outlive its shutdown by minutes.
type stopTransport struct {
	base http.RoundTripper
	stop context.Context
}

func (t *stopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.stop.Err(); err != nil {
		return nil, fmt.Errorf("policyhost is stopping: %w", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	unhook := context.AfterFunc(t.stop, cancel)
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		unhook()
		cancel()
		return nil, err
	}
	resp.Body = &stopBody{ReadCloser: resp.Body, done: func() { unhook(); cancel() }}
	return resp, nil
}

// stopBody releases the request's context when the body is closed.
type stopBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *stopBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
