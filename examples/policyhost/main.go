// Command policyhost serves the MTA-STS policies (RFC 8461 §3.2) of
// several domains from one configuration file, and prints the DNS records
// to publish with the order to publish them in.
//
// Usage:
//
//	policyhost [-config file] [-addr host:port] [-cert file -key file] [-print]
//
// For example, with the sample configuration next to this file:
//
//	go run ./examples/policyhost -print
//	go run ./examples/policyhost -addr 127.0.0.1:8080
//	curl -H 'Host: mta-sts.example.net' http://127.0.0.1:8080/.well-known/mta-sts.txt
//
// The configuration file (JSON) lists the domains:
//
//	{
//	  "ttl": 3600,
//	  "domains": [
//	    {"domain": "example.com", "mode": "enforce",
//	     "mx": ["mx1.example.com", "*.mail.example.com"], "max_age": 1209600,
//	     "tlsrpt": "mailto:tlsrpt@example.com"}
//	  ]
//	}
//
// mode is enforce, testing or none; mx lists the MX host patterns (U-labels
// are written as A-labels); max_age is in seconds; tlsrpt, optional, gives
// the rua destinations of the domain's TLS-RPT record (RFC 8460 §3).
// Every policy is checked before anything is served or printed.
//
// With -print it writes a zone-file fragment and exits: the policies to
// serve first, then the _smtp._tls and _mta-sts TXT records (the id is
// derived from the policy's content with mtasts.PolicyID, so it changes
// exactly when the policy does), domains in mode testing before those in
// mode enforce (RFC 8461 §8.1: a policy before the record that announces
// it; a domain should move to enforce only after TLS-RPT reports of
// testing show no failures).
//
// Otherwise it serves https://mta-sts.<domain>/.well-known/mta-sts.txt for
// every domain with mtasts.Handler, choosing the policy by the Host of the
// request, until SIGINT or SIGTERM. Senders fetch policies over HTTPS
// only: give -cert and -key (a certificate valid for every
// mta-sts.<domain>). Without them it speaks plain HTTP, and only on a
// loopback IP address, for a reverse proxy that terminates TLS.
//
// Exit status: 0; 1 when the configuration is invalid or the server
// fails; 2 for bad usage.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program: with -print it returns once the plan is printed,
// otherwise when ctx ends or the server fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policyhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "examples/policyhost/policyhost.json", "the configuration file")
	addr := fs.String("addr", "127.0.0.1:8443", "the address to serve on")
	certFile := fs.String("cert", "", "PEM certificate chain valid for every mta-sts.<domain>")
	keyFile := fs.String("key", "", "PEM private key of -cert")
	printOnly := fs.Bool("print", false, "print the DNS records and the publishing order, and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: policyhost [-config file] [-addr host:port] [-cert file -key file] [-print]")
		fmt.Fprintln(stderr, "Serves MTA-STS policies (RFC 8461) for the domains of the configuration file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "policyhost: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "policyhost: -cert and -key go together")
		return 2
	}
	sites, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintln(stderr, "policyhost:", err)
		return 1
	}
	if *printOnly {
		printPlan(stdout, sites)
		return 0
	}

	var tlsConfig *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "policyhost:", err)
			return 1
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if err := coversAll(cert, sites); err != nil {
			fmt.Fprintln(stderr, "policyhost:", err)
			return 1
		}
	} else if !isLoopback(*addr) {
		fmt.Fprintf(stderr, "policyhost: plain HTTP only on a loopback address; give -cert and -key to serve on %s\n", *addr)
		return 2
	}
	if err := serve(ctx, *addr, tlsConfig, sites, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "policyhost:", err)
		return 1
	}
	return 0
}

// coversAll checks that cert is valid for mta-sts.<domain> of every site:
// senders reject the policy otherwise (RFC 8461 §3.3, sts-webpki-invalid).
func coversAll(cert tls.Certificate, sites []site) error {
	var errs []error
	for _, s := range sites {
		if err := cert.Leaf.VerifyHostname("mta-sts." + s.domain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isLoopback reports whether addr is a loopback IP address and port.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// serve runs the policy host until ctx ends.
func serve(ctx context.Context, addr string, tlsConfig *tls.Config, sites []site, stdout, stderr io.Writer) error {
	policies := make(map[string]*mtasts.Policy, len(sites))
	for _, s := range sites {
		policies[s.domain] = s.policy
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	h := &mtasts.Handler{
		Policy: func(_ context.Context, domain string) (*mtasts.Policy, error) {
			return policies[domain], nil
		},
		Logger: logger,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "serving the policies of %d domains on %s://%s%s (by Host: mta-sts.<domain>)\n", len(sites), scheme, ln.Addr(), mtasts.PolicyPath)
	for _, s := range publishingOrder(sites) {
		fmt.Fprintf(stdout, "  mta-sts.%s: mode %s, id %s\n", s.domain, s.policy.Mode, s.id)
	}
	stop := context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	})
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
