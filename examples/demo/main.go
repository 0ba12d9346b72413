// Command demo shows MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) at work,
// entirely on loopback and with no setup:
//
//	go run ./examples/demo
//
// It starts a small Internet on 127.0.0.1 (package
// github.com/smtpsec/smtpsec/examples/demo/world): a DNS server with the
// zone of example.com (MX, A, and the TXT records _mta-sts and
// _smtp._tls), a certificate authority made at start-up, the HTTPS policy
// host mta-sts.example.com, two MX hosts speaking SMTP with STARTTLS —
// mx1.example.com with a certificate for the wrong name, mx2.example.com
// with a valid one — and the HTTPS TLS-RPT receiver tlsrpt.example.com.
// The A records point at 127.0.0.1; since every server listens on a random
// port, the demo's dialer maps port 25 or 443 of each name to it.
//
// Then it plays a sending MTA for one day, with a clock it moves forward:
//
//  1. example.com publishes a policy in mode testing: the MTA fetches it
//     (package policycache), finds that mx1's certificate fails and
//     delivers anyway, reporting the failure;
//  2. example.com switches to mode enforce under a new policy id: the MTA
//     fetches the new policy and refuses mx1, delivering to mx2;
//  3. the policy host goes down while the TXT record announces yet
//     another id: the fetch fails, and the cached enforce policy is still
//     applied (fail-closed, RFC 8461 §5.1);
//  4. the next day, the day's TLS-RPT report (package tlsrpt, Collector)
//     is printed as JSON and delivered to the rua destinations of
//     _smtp._tls.example.com: POSTed to tlsrpt.example.com and mailed to
//     tlsrpt@example.com, and the demo shows what each received.
//
// Each delivery prints one line per decision, such as
//
//	[enforce] mx1.example.com: certificate-host-mismatch (X509_V_ERR_HOSTNAME_MISMATCH) -> skip (not delivered to this MX)
//
// Flags:
//
//	-v	also print the log of the policy cache and the report sender
//	  	(alerts about failed policy fetches, RFC 8461 §3.3) on stderr
//
// The whole run takes well under a second of real time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the flags, runs the demo and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print the library log (policy cache alerts, report sender) on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: demo [-v]")
		fmt.Fprintln(stderr, "Plays a sending MTA applying MTA-STS and reporting with TLS-RPT, on loopback.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := demo(ctx, stdout, logger); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

// Addresses of the story.
const (
	sender    = "alice@sender.example"
	recipient = "bob@" + world.Domain
	mtaName   = "mta.sender.example"
	reportsTo = "tlsrpt@" + world.Domain
)

// demo runs the story, printing to out.
func demo(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	began := time.Now()
	start := began.UTC().Truncate(24 * time.Hour).Add(9 * time.Hour)
	w, err := world.New(start)
	if err != nil {
		return err
	}
	defer w.Close()
	printWorld(out, w)

	resolver := &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: 30 * time.Second, Attempts: 1}
	cache, err := policycache.New(policycache.Config{
		Resolver:       resolver,
		HTTPClient:     w.HTTPClient(),
		Now:            w.Clock.Now,
		Logger:         logger,
		DisableRefresh: true, // the background refresh runs on real time
	})
	if err != nil {
		return err
	}
	defer cache.Close()
	collector := &tlsrpt.Collector{
		OrganizationName: "Sender Example Ltd",
		ContactInfo:      "mailto:tlsrpt@sender.example",
		Now:              w.Clock.Now,
		Logger:           logger,
	}
	m := &mta{
		name:      mtaName,
		cache:     cache,
		collector: collector,
		net:       w.Net,
		verify:    mtasts.VerifyOptions{Roots: w.CA.Pool, Now: w.Clock.Now},
		out:       out,
	}
	msgs := 0
	send := func() error {
		msgs++
		fmt.Fprintf(out, "message %d to %s\n", msgs, recipient)
		err := m.deliver(ctx, sender, recipient, message(msgs, w.Clock.Now()))
		if errors.Is(err, errNotDelivered) {
			return nil // part of the story: the message stays queued
		}
		return err
	}

	// 1. Mode testing.
	testing, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, world.MX1, world.MX2)
	if err != nil {
		return err
	}
	id := w.Publish(testing)
	step(out, w, "example.com publishes a policy in mode testing (policy file first, then TXT id %s)", short(id))
	if err := send(); err != nil {
		return err
	}
	w.Clock.Advance(10 * time.Minute)
	step(out, w, "10 minutes later: the TXT record's TTL (%ds) has passed", world.TTL)
	if err := send(); err != nil {
		return err
	}

	// 2. Mode enforce, under a new id.
	w.Clock.Advance(2 * time.Hour)
	enforce, err := mtasts.NewPolicy(mtasts.ModeEnforce, 7*24*time.Hour, world.MX1, world.MX2)
	if err != nil {
		return err
	}
	id = w.Publish(enforce)
	step(out, w, "example.com moves to mode enforce: new policy, then TXT id %s", short(id))
	if err := send(); err != nil {
		return err
	}

	// 3. The policy host goes down; a new id cannot be fetched.
	w.Clock.Advance(4 * time.Hour)
	w.StopPolicyHost()
	w.AnnounceID("unreachable1")
	step(out, w, "mta-sts.example.com goes down, while the TXT record announces a new id, unreachable1")
	if err := send(); err != nil {
		return err
	}

	// 4. The next day: the report.
	day := w.Clock.Now()
	w.Clock.Advance(day.Truncate(24 * time.Hour).Add(24*time.Hour + 15*time.Minute).Sub(day))
	step(out, w, "a new UTC day: the TLS-RPT report for %s", day.Format(time.DateOnly))
	if err := report(ctx, out, w, m, collector, day, logger); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndone in %v of real time\n", time.Since(began).Round(time.Millisecond))
	return nil
}

// printWorld describes the loopback Internet.
func printWorld(out io.Writer, w *world.World) {
	fmt.Fprintf(out, "smtpsec demo: MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) on loopback\n\n")
	fmt.Fprintf(out, "DNS server %s: %s MX 10 %s, MX 20 %s; A records -> 127.0.0.1\n", w.DNS.Addr, world.Domain, world.MX1, world.MX2)
	r := w.Routes()
	fmt.Fprintf(out, "  %-20s %-16s SMTP, STARTTLS certificate for mx.other.example.net (wrong name)\n", world.MX1, r[world.MX1+":25"])
	fmt.Fprintf(out, "  %-20s %-16s SMTP, STARTTLS certificate for %s\n", world.MX2, r[world.MX2+":25"], world.MX2)
	fmt.Fprintf(out, "  %-20s %-16s HTTPS policy host\n", world.PolicyHost, r[world.PolicyHost+":443"])
	fmt.Fprintf(out, "  %-20s %-16s HTTPS TLS-RPT receiver\n", world.ReportHost, r[world.ReportHost+":443"])
	fmt.Fprintf(out, "(certificates from a CA made at start-up; the dialer maps port 25/443 of each name to its loopback port)\n")
}

// step prints a heading with the world's time.
func step(out io.Writer, w *world.World, format string, args ...any) {
	fmt.Fprintf(out, "\n[%s] %s\n", w.Clock.Now().Format("2006-01-02 15:04 MST"), fmt.Sprintf(format, args...))
}

// message returns the text of the demo's message number n.
func message(n int, now time.Time) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: <%s>
To: <%s>
Subject: message %d
Date: %s
Message-ID: <%d.%d@sender.example>

Hello Bob, this is message %d.
`, sender, recipient, n, now.Format(time.RFC1123Z), now.Unix(), n, n), "\n", "\r\n"))
}

// report makes the day's TLS-RPT report, prints it and delivers it to the
// destinations example.com publishes, then shows what they received.
func report(ctx context.Context, out io.Writer, w *world.World, m *mta, c *tlsrpt.Collector, day time.Time, logger *slog.Logger) error {
	reports, err := c.Reports(ctx, day)
	if err != nil {
		return err
	}
	resolver := &policycache.DNSResolver{Servers: []string{w.DNS.Addr}, Timeout: 30 * time.Second, Attempts: 1}
	for _, r := range reports {
		js, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", js)
		domain := r.Policies[0].Policy.Domain
		rec, err := tlsrpt.LookupRecord(ctx, resolver, domain)
		if err != nil {
			fmt.Fprintf(out, "%s takes no reports: %v\n", domain, err)
			continue
		}
		var dests []string
		for _, u := range rec.Destinations() {
			dests = append(dests, u.String())
		}
		fmt.Fprintf(out, "delivering it to the rua of _smtp._tls.%s: %s\n", domain, strings.Join(dests, ", "))
		s := &tlsrpt.Sender{
			From:       "tlsrpt@sender.example",
			HTTPClient: w.HTTPClient(),
			Mail:       m.mailReport,
			Attempts:   1,
			Now:        w.Clock.Now,
			Logger:     logger,
		}
		if err := s.Send(ctx, r, rec); err != nil {
			return err
		}
	}
	for _, r := range w.Reports() {
		fmt.Fprintf(out, "  https://%s received report %s by POST: %s\n", world.ReportHost, r.ReportID, counts(r))
	}
	for _, mx := range w.MX {
		for _, msg := range mx.Messages() {
			if len(msg.To) == 0 || msg.To[0] != reportsTo {
				continue
			}
			r, err := tlsrpt.ParseMessage(bytes.NewReader(msg.Data))
			if err != nil {
				return fmt.Errorf("the report email at %s: %w", mx.Name, err)
			}
			fmt.Fprintf(out, "  %s received at %s an email with report %s: %s\n", reportsTo, mx.Name, r.ReportID, counts(r))
		}
	}
	return nil
}

// counts summarises the session counts of a report: its failures by
// result type and reason.
func counts(r *tlsrpt.Report) string {
	var ok, failed int64
	types := map[string]int64{}
	var order []string
	for _, p := range r.Policies {
		ok += p.Summary.TotalSuccessfulSessionCount
		failed += p.Summary.TotalFailureSessionCount
		for _, d := range p.FailureDetails {
			t := string(d.ResultType)
			if d.ResultType == tlsrpt.ResultSTSPolicyFetchError && d.FailureReasonCode != "" {
				t += ": " + d.FailureReasonCode // what actually failed
			}
			if types[t] == 0 {
				order = append(order, t)
			}
			types[t] += d.FailedSessionCount
		}
	}
	s := fmt.Sprintf("%d successful, %d failed sessions", ok, failed)
	for i, t := range order {
		if i == 0 {
			s += " ("
		} else {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", types[t], t)
	}
	if len(order) > 0 {
		s += ")"
	}
	return s
}
