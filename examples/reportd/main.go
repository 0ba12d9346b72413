// Command reportd receives SMTP TLS reports (RFC 8460) for the domains
// that publish it as their rua destination, and tells each domain whether
// its MTA-STS policy (RFC 8461) can move from mode testing to mode
// enforce.
//
// Usage:
//
//	reportd [-addr host:port [-cert file -key file]] [report files...]
//
// It reads the report files given as arguments — report emails (.eml,
// multipart/report as senders mail them, §5.3) and report files (.json or
// gzip-compressed .json.gz, §5.1) — and, with -addr, listens for reports
// POSTed over HTTPS (§5.4) with Content-Type application/tlsrpt+gzip or
// application/tlsrpt+json, on any path: the rua URI https://host/any/path
// of a TLS-RPT record. Without -cert and -key it speaks plain HTTP, which
// it allows only on a loopback IP address (behind a reverse proxy that
// terminates TLS). A report received twice (by email and by POST, or
// from two files) counts once.
//
// It prints a summary per policy domain and reporting period (a UTC day,
// §4.1): the sessions, and the failed ones by result type, by sending MTA
// and by receiving MX host. Then, per domain, the enforce-readiness
// verdict: READY when no session failed under the domain's testing
// policy, or NOT READY with the receiving MX, sending MTA and result type
// of the failures that would become undelivered mail under enforce.
//
// Without -addr it prints the summary of the files and exits. With
// -addr it prints a line per report received and serves the current
// summary at GET /summary; on SIGINT or SIGTERM it prints the summary and
// exits.
//
// Examples:
//
//	go run ./examples/reportd examples/reportd/testdata/*
//	go run ./examples/reportd -addr 127.0.0.1:8080
//	curl -H 'Content-Type: application/tlsrpt+gzip' --data-binary @report.json.gz http://127.0.0.1:8080/v1/tlsrpt
//
// Exit status: 0, or 1 when a file could not be read as a report or the
// server failed, 2 for bad usage. Reports are untrusted input: every
// file, email and request body is read with the size limits of package
// tlsrpt, and requests with time limits. DKIM signatures of report
// emails, which §5.3 requires, are not checked.
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
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// syncWriter serialises the writes of the request handlers and the main
// goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// run is the program: it returns the exit status when the files are read
// (without -addr) or when ctx ends (with -addr).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout = &syncWriter{w: stdout}
	stderr = &syncWriter{w: stderr}
	fs := flag.NewFlagSet("reportd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen for POSTed reports at this address, such as 127.0.0.1:8080")
	certFile := fs.String("cert", "", "PEM certificate chain for HTTPS")
	keyFile := fs.String("key", "", "PEM private key for HTTPS")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reportd [-addr host:port [-cert file -key file]] [report files (.eml, .json, .json.gz)...]")
		fmt.Fprintln(stderr, "Summarises TLS-RPT reports (RFC 8460) and judges MTA-STS enforce readiness.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "reportd: -cert and -key go together")
		return 2
	}
	if *addr == "" && (fs.NArg() == 0 || *certFile != "") {
		fs.Usage()
		return 2
	}
	var tlsConfig *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			return 2
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else if *addr != "" && !isLoopback(*addr) {
		fmt.Fprintf(stderr, "reportd: plain HTTP only on a loopback address; give -cert and -key to listen on %s\n", *addr)
		return 2
	}

	sum := newSummary()
	status := 0
	for _, name := range fs.Args() {
		r, err := readFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "reportd: %s: %v\n", name, err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, describe(r, sum.add(r)))
	}
	if *addr != "" {
		if err := serve(ctx, *addr, tlsConfig, sum, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			status = 1
		}
	}
	fmt.Fprintln(stdout)
	sum.write(stdout)
	return status
}

// readFile reads a report email (.eml) or report file.
func readFile(name string) (*tlsrpt.Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if strings.EqualFold(filepath.Ext(name), ".eml") {
		return tlsrpt.ParseMessage(f)
	}
	return tlsrpt.ParseReport(f)
}

// describe is the line printed for each report received.
func describe(r *tlsrpt.Report, added bool) string {
	var domains []string
	for _, p := range r.Policies {
		if d := p.Policy.Domain; d != "" && !contains(domains, d) {
			domains = append(domains, d)
		}
	}
	s := fmt.Sprintf("report %s from %s for %s", r.ReportID, orUnknown(r.OrganizationName), orUnknown(strings.Join(domains, ", ")))
	if !added {
		s += " (already counted)"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isLoopback reports whether addr is a loopback IP address and port.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// serve accepts POSTed reports at addr until ctx ends.
func serve(ctx context.Context, addr string, tlsConfig *tls.Config, sum *summary, stdout, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	mux := http.NewServeMux()
	mux.Handle("/", &tlsrpt.Handler{
		Report: func(_ context.Context, r *tlsrpt.Report) error {
			fmt.Fprintf(stdout, "POST: %s\n", describe(r, sum.add(r)))
			return nil
		},
		Logger: logger,
	})
	mux.HandleFunc("GET /summary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		sum.write(w)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "listening on %s://%s/ (POST reports to any path; GET /summary)\n", scheme, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	<-done
	return err
}
