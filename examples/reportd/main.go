// Command reportd receives SMTP TLS reports (RFC 8460) for the domains
// that name it as their rua destination, keeps them, and tells each
// domain whether its MTA-STS policy (RFC 8461) can move from mode testing
// to mode enforce — on a dashboard, as JSON, and as text.
//
// Usage:
//
//	reportd -data dir -addr host:port [-cert file -key file] [flags] [report files...]
//	reportd [-data dir] report files...
//
// With -addr it listens for reports POSTed over HTTPS (§5.4) with
// Content-Type application/tlsrpt+gzip or application/tlsrpt+json, on
// any path: the rua URI https://host/any/path of a TLS-RPT record.
// Without -cert and -key it speaks plain HTTP, which it allows only on a
// loopback address (behind a reverse proxy that terminates TLS). The
// files given as arguments — report emails (multipart/report as senders
// mail them, §5.3), report files (JSON or gzip) — are taken in too; the
// format of a body or file is told from its content (gzip magic bytes, a
// JSON object, else an email), never from its name. Without -addr it
// prints the summary and exits.
//
// # Data directory
//
// Every report accepted is stored in -data as the bytes received, one
// file per report named <sequence>-<sha256>.tlsrpt, written to a
// temporary file, synced, renamed and the directory synced before the
// sender gets its 200: a report acknowledged survives a crash or SIGKILL.
// At start the directory is read back (temporary files of interrupted
// writes removed; a file that no longer decodes is left in place, listed
// and counted), so the summary is always computed from what is stored. A
// report is stored once: a second copy with the same bytes, or with the
// same organization-name and report-id (the same report by email and by
// HTTPS), is answered 200 "report already stored" and not counted again.
//
// Retention and limits: reports whose period ended more than
// -retention-days ago are deleted at start and every hour. The store
// holds at most -max-reports reports and -max-bytes bytes; when full,
// intake is refused with 507 Insufficient Storage and Retry-After (senders
// retry, §5.5) instead of deleting older reports, so that a flood of
// forged reports cannot push real ones out — only time does. Memory is
// bounded by these limits: the summary keeps per report a few hundred
// bytes plus capped counts (names cut to 300 bytes, at most 500 failure
// groups per domain, period and mode, 100 reporters per period).
//
// # Limits on what arrives
//
// At most -max-inflight reports are received at once (more are answered
// 503 with Retry-After); at most -max-conns connections are open (more
// wait in the listen queue). A report is at most -max-size bytes, both as
// received and as JSON after decompression. The server has read-header,
// read, write and idle timeouts and a cap on header bytes. An empty body,
// a body that is neither gzip nor a JSON object, a JSON object that is
// not a report (no organization-name, report-id, date-range or policies;
// a policy without policy-domain) or a report with a count that is
// negative or over 2^40 is refused with 400 and a one-line reason. With
// -domains, a report for none of those policy domains is refused too.
// Validate's findings (RFC 8460 §4.4 deviations) are kept and shown per
// report. Every string from a report is escaped before it reaches stdout,
// a log line or the dashboard (html/template).
//
// # Verdicts
//
// Per policy domain, over the retained reports:
//
//   - READY: sessions under mode testing, none failed, reported by at
//     least -min-reporters different organisations (default 2): reports
//     over HTTPS are unauthenticated (§5.4), so one reporter alone never
//     makes a domain READY;
//   - NOT READY: sessions failed under mode testing (the MX host, sending
//     MTA and result type of the failures that would become undelivered
//     mail under enforce), or too few reporters;
//   - ENFORCED: already in mode enforce (failures are undelivered mail);
//   - UNKNOWN MODE: reporters applied an MTA-STS policy without saying
//     its mode (no policy-string): no evidence either way;
//   - NO POLICY: senders found no MTA-STS policy.
//
// Each verdict lists its evidence: sessions per mode, and per reporter
// the mode, reports, sessions and share of the sessions.
//
// # Dashboard
//
// GET / is a server-rendered HTML page without JavaScript or external
// assets: per policy domain the verdict and its reason, a bar chart
// (inline SVG) of the last 30 days — one bar per UTC day, successful
// sessions in green below failed ones in red, each with a tooltip of its
// counts —, the failures by result type, by sending MTA and by MX host,
// the evidence tables (modes, reporters, blocking failure groups), and at
// the end the 50 reports received last with their Validate findings. GET
// /api/summary is the same as JSON; GET /summary the text printed at exit.
// Answers are bounded (200 domains with the most sessions, 10 rows per
// table).
//
// # Shutting down
//
// On SIGINT or SIGTERM it stops accepting connections, lets the requests
// in flight finish for up to -grace, then closes what is left (nothing
// those requests sent was acknowledged), prints the summary and exits 0.
//
// # Production set-up
//
//	useradd --system --home /var/lib/reportd reportd
//	install -d -o reportd -m 700 /var/lib/reportd
//
// and a systemd unit, behind a TLS-terminating proxy on the same host:
//
//	[Unit]
//	Description=TLS-RPT report receiver
//	After=network-online.target
//
//	[Service]
//	User=reportd
//	ExecStart=/usr/local/bin/reportd -data /var/lib/reportd -addr 127.0.0.1:8460 \
//	    -domains example.com,example.org -retention-days 90
//	Restart=on-failure
//	KillSignal=SIGTERM
//	TimeoutStopSec=45
//	LimitNOFILE=16384
//	NoNewPrivileges=yes
//	ProtectSystem=strict
//	ReadWritePaths=/var/lib/reportd
//
//	[Install]
//	WantedBy=multi-user.target
//
// or directly on the Internet with -addr :443 -cert fullchain.pem -key
// privkey.pem. Publish _smtp._tls.example.com TXT "v=TLSRPTv1;
// rua=https://reports.example.com/v1/tlsrpt". TimeoutStopSec must exceed
// -grace. Keep the dashboard private (the proxy's authentication): it
// lists reporters and MX hosts.
//
// Examples:
//
//	go run ./examples/reportd examples/reportd/testdata/*
//	go run ./examples/reportd -data /tmp/reports -addr 127.0.0.1:8080
//	curl -H 'Content-Type: application/tlsrpt+gzip' --data-binary @report.json.gz http://127.0.0.1:8080/v1/tlsrpt
//
// Exit status: 0, or 1 when a file could not be read as a report or the
// server failed, 2 for bad usage. DKIM signatures of report emails, which
// §5.3 requires, are not checked.
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
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/smtpsec/smtpsec/internal/escape"
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

// config is the program's settings, from its flags.
type config struct {
	addr, certFile, keyFile, dataDir string
	domains                          map[string]bool
	retentionDays, maxReports        int
	maxBytes, maxSize                int64
	maxInflight, maxConns            int
	minReporters                     int
	grace, readTimeout, writeTimeout time.Duration
	readHeaderTimeout                time.Duration
	files                            []string
	now                              func() time.Time
}

// run is the program with the system clock.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runClock(ctx, args, stdout, stderr, time.Now)
}

// parseFlags reads the flags; it prints why they are wrong and returns
// nil and the exit status when they are.
func parseFlags(args []string, stderr io.Writer) (*config, int) {
	fs := flag.NewFlagSet("reportd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.addr, "addr", "", "listen for POSTed reports at this address, such as 127.0.0.1:8460")
	fs.StringVar(&c.certFile, "cert", "", "PEM certificate chain for HTTPS (with -addr)")
	fs.StringVar(&c.keyFile, "key", "", "PEM private key for HTTPS (with -addr)")
	fs.StringVar(&c.dataDir, "data", "", "directory where reports are kept (required with -addr)")
	domains := fs.String("domains", "", "comma-separated policy domains served; reports for others are refused (default any)")
	fs.IntVar(&c.retentionDays, "retention-days", 90, "delete reports whose period ended more than this many days ago")
	fs.IntVar(&c.maxReports, "max-reports", 20000, "reports stored at most; when full, intake answers 507")
	fs.Int64Var(&c.maxBytes, "max-bytes", 1<<30, "bytes stored at most; when full, intake answers 507")
	fs.Int64Var(&c.maxSize, "max-size", 4<<20, "bytes of one report at most, as received and as JSON")
	fs.IntVar(&c.maxInflight, "max-inflight", 8, "reports received at once at most; more are answered 503")
	fs.IntVar(&c.maxConns, "max-conns", 4096, "connections open at once at most")
	fs.IntVar(&c.minReporters, "min-reporters", 2, "reporters whose sessions a READY verdict needs at least")
	fs.DurationVar(&c.grace, "grace", 30*time.Second, "on SIGTERM, time the requests in flight get to finish")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client gets to send its request headers")
	fs.DurationVar(&c.readTimeout, "read-timeout", time.Minute, "time a client gets to send its request")
	fs.DurationVar(&c.writeTimeout, "write-timeout", time.Minute, "time a client gets to read an answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reportd -data dir -addr host:port [-cert file -key file] [flags] [report files...]")
		fmt.Fprintln(stderr, "       reportd [-data dir] report files (.eml, .json, .json.gz)...")
		fmt.Fprintln(stderr, "Receives and keeps TLS-RPT reports (RFC 8460), serves a dashboard, judges MTA-STS enforce readiness.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	c.files = fs.Args()
	usage := func(msg string) (*config, int) {
		fmt.Fprintln(stderr, "reportd:", msg)
		return nil, 2
	}
	switch {
	case (c.certFile == "") != (c.keyFile == ""):
		return usage("-cert and -key go together")
	case c.certFile != "" && c.addr == "":
		return usage("-cert and -key are for HTTPS: give -addr too")
	case c.addr == "" && len(c.files) == 0 && c.dataDir == "":
		fs.Usage()
		return nil, 2
	case c.addr != "" && c.dataDir == "":
		return usage("-addr needs -data, the directory where reports are kept")
	case c.addr != "" && c.certFile == "" && !isLoopback(c.addr):
		return usage(fmt.Sprintf("plain HTTP only on a loopback address; give -cert and -key to listen on %s", c.addr))
	case c.retentionDays < 1:
		return usage("-retention-days must be at least 1")
	case c.maxReports < 1 || c.maxReports > 1<<20:
		return usage("-max-reports must be from 1 to 1048576")
	case c.maxBytes < 1, c.maxSize < 1:
		return usage("-max-bytes and -max-size must be positive")
	case c.maxInflight < 1 || c.maxConns < 1:
		return usage("-max-inflight and -max-conns must be positive")
	case c.minReporters < 1:
		return usage("-min-reporters must be at least 1")
	case c.grace <= 0 || c.readHeaderTimeout <= 0 || c.readTimeout <= 0 || c.writeTimeout <= 0:
		return usage("-grace and the timeouts must be positive")
	}
	if *domains != "" {
		c.domains = map[string]bool{}
		for _, d := range strings.Split(*domains, ",") {
			if d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")); d != "" {
				c.domains[d] = true
			}
		}
	}
	return c, 0
}

// runClock is the program: it returns the exit status when the files are
// read (without -addr) or when ctx ends (with -addr).
func runClock(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	stdout = &syncWriter{w: stdout}
	stderr = &syncWriter{w: stderr}
	c, code := parseFlags(args, stderr)
	if c == nil {
		return code
	}
	c.now = now
	var tlsConfig *tls.Config
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			return 2
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	printf := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }

	in := &intake{
		store:   newStore(c.dataDir, c.maxReports, c.maxBytes),
		agg:     newAggregate(c.minReporters),
		decoder: tlsrpt.Decoder{MaxCompressedSize: c.maxSize, MaxReportSize: c.maxSize},
		domains: c.domains,
		now:     now,
	}
	if c.dataDir != "" {
		in.retentionDays = c.retentionDays
		bad, err := in.load(printf)
		if err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			return 1
		}
		n, b := in.store.usage()
		printf("%s: %d reports stored (%d bytes), %d unreadable", escape.Text(c.dataDir), n, b, bad)
		if err := prune(in, printf); err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			return 1
		}
	}
	status := 0
	for _, name := range c.files {
		if err := takeFile(in, name, printf); err != nil {
			fmt.Fprintf(stderr, "reportd: %s: %s\n", escape.Text(name), escape.Text(err.Error()))
			status = 1
		}
	}
	rc := &receiver{intake: in, maxSize: c.maxSize, inflight: make(chan struct{}, c.maxInflight), print: printf,
		logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if c.addr != "" {
		if err := serve(ctx, c, tlsConfig, rc, printf); err != nil {
			fmt.Fprintln(stderr, "reportd:", err)
			status = 1
		}
	}
	fmt.Fprintln(stdout)
	writeText(stdout, rc.snapshot())
	return status
}

// takeFile takes in the report file or email name.
func takeFile(in *intake, name string, printf func(string, ...any)) error {
	raw, err := readStored(name)
	if err != nil {
		return err
	}
	out, err := in.take(raw, true)
	if err != nil {
		return err
	}
	line := describe(out.info)
	if out.duplicate {
		line += " (already stored)"
	}
	printf("%s: %s", escape.Text(name), line)
	return nil
}

// prune deletes the reports past the retention.
func prune(in *intake, printf func(string, ...any)) error {
	cutoff := in.cutoff()
	n, err := in.store.prune(cutoff)
	in.agg.prune(cutoff)
	if n > 0 {
		printf("deleted %d reports that ended before %s (-retention-days %d)", n, cutoff, in.retentionDays)
	}
	return err
}

// isLoopback reports whether addr is a loopback IP address and port.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// serve accepts POSTed reports and serves the dashboard until ctx ends,
// then shuts down gracefully.
func serve(ctx context.Context, c *config, tlsConfig *tls.Config, rc *receiver, printf func(string, ...any)) error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	ln = netutil.LimitListener(ln, c.maxConns)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           rc.routes(),
		ReadHeaderTimeout: c.readHeaderTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(rc.logger.Handler(), slog.LevelWarn),
	}
	printf("listening on %s://%s/ (POST reports to any path; dashboard GET /, GET /api/summary)", scheme, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if err := prune(rc.intake, printf); err != nil {
				rc.logger.Error("reportd: retention", "err", err)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	printf("shutting down: no new connections; requests in flight get %s", c.grace)
	grace, cancel := context.WithTimeout(context.Background(), c.grace)
	defer cancel()
	if err := srv.Shutdown(grace); err != nil {
		srv.Close()
		printf("grace period over: closed the connections still open (nothing they sent was acknowledged)")
	}
	<-done
	rc.active.Wait() // a report being stored is stored before the exit
	return nil
}
