// Command check inspects the MTA-STS (RFC 8461) and TLS-RPT (RFC 8460)
// setup of a domain as a sending MTA sees it, and says what to fix.
//
// Usage:
//
//	check [flags] domain
//
// For example:
//
//	go run ./examples/check example.com
//	go run ./examples/check -json example.com
//
// It looks up the _mta-sts TXT record, fetches the policy from
// https://mta-sts.<domain>/.well-known/mta-sts.txt with the rules senders
// apply, looks up the MX records and matches them against the policy,
// connects to each MX host on port 25 to check STARTTLS and its
// certificate, and looks up the _smtp._tls TLS-RPT record (with
// inspect.Domain). It prints a readable report, or with -json the
// inspect.Result as JSON, and every finding with its fix.
//
// Flags for local setups and tests, where the domain is not on the
// Internet:
//
//	-dns host:port    ask this DNS server instead of the system's resolver
//	-ca file          trust the CA certificates of this PEM file instead of
//	                  the system roots (policy host and MX hosts)
//	-connect host:port=addr
//	                  connect to addr when host:port is wanted, like curl's
//	                  --connect-to; repeatable (mta-sts.example.com:443=127.0.0.1:8443)
//	-smtp-port port   probe MX hosts on this port (default 25)
//	-no-starttls      do not connect to the MX hosts (port 25 blocked)
//	-timeout d        bound each network step (default 30s)
//
// The flags are checked before anything is asked: -dns must be host:port.
// A resolver that does not answer is reported as such ("the resolver X
// did not answer"), not as a problem of the domain; a domain that does
// not exist is said not to exist; a setup delegated to a provider with
// CNAMEs at _mta-sts and mta-sts (RFC 8461 §8.2) is shown with its
// targets. Everything printed that comes from the network (records,
// policy lines, host and certificate names, server replies) is escaped,
// so that it can neither forge lines nor drive the terminal.
//
// In production, run it from a monitoring system or a daily timer, where
// outgoing port 25 is open (else -no-starttls), with -json for machines:
//
//	check -json -timeout 20s example.com > /var/lib/check/example.com.json
//
// and alert on exit status 1. A finding "dns-resolver-failed" is about
// the machine running check, not the domain: alert on it separately.
//
// Exit status: 0 when no error was found (warnings allowed), 1 when there
// are errors, 2 for bad usage or an invalid domain.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/policycache"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// connectFlags collects -connect host:port=addr.
type connectFlags map[string]string

func (c connectFlags) String() string { return fmt.Sprint(map[string]string(c)) }

func (c connectFlags) Set(s string) error {
	from, to, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want host:port=address")
	}
	for _, hp := range []string{from, to} {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return err
		}
	}
	c[strings.ToLower(from)] = to
	return nil
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	dnsServer := fs.String("dns", "", "DNS server (host:port) to ask instead of the system's resolver")
	caFile := fs.String("ca", "", "PEM file of the CA certificates to trust instead of the system roots")
	connect := connectFlags{}
	fs.Var(connect, "connect", "host:port=addr: connect to addr for host:port (repeatable)")
	smtpPort := fs.String("smtp-port", "25", "port of the MX hosts' SMTP service")
	noSTARTTLS := fs.Bool("no-starttls", false, "do not connect to the MX hosts")
	timeout := fs.Duration("timeout", inspect.DefaultTimeout, "bound on each network step")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: check [-json] [-dns host:port] [-ca file] [-connect host:port=addr]... [-smtp-port port] [-no-starttls] [-timeout d] domain")
		fmt.Fprintln(stderr, "Inspects the MTA-STS and TLS-RPT setup of a domain (RFC 8461, RFC 8460).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if msg := checkFlags(*dnsServer, *smtpPort, *timeout); msg != "" {
		fmt.Fprintln(stderr, "check:", msg)
		return 2
	}
	var roots *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "check:", err)
			return 2
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "check: %s holds no PEM certificate\n", *caFile)
			return 2
		}
	}

	// Records are looked up with policycache.DNSResolver, which names the
	// server it asked and tells NXDOMAIN from NODATA; host addresses (for
	// the connections) and CNAMEs with package net, asking the same server.
	resolver := net.DefaultResolver
	records := &policycache.DNSResolver{}
	if *dnsServer != "" {
		records.Servers = []string{*dnsServer}
		resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, *dnsServer)
			},
		}
	}
	dialer := &net.Dialer{Resolver: resolver}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := connect[strings.ToLower(addr)]; ok {
			addr = to
		}
		return dialer.DialContext(ctx, network, addr)
	}
	res, err := inspect.Domain(ctx, fs.Arg(0), inspect.Options{
		Resolver: &checkResolver{DNSResolver: records, cnames: resolver},
		HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext:     dial,
			TLSClientConfig: &tls.Config{RootCAs: roots},
		}},
		SMTPPort:     *smtpPort,
		DialContext:  dial,
		SkipSTARTTLS: *noSTARTTLS,
		RootCAs:      roots,
		Timeout:      *timeout,
	})
	if err != nil {
		fmt.Fprintln(stderr, "check:", escape.Text(err.Error()))
		if ctx.Err() != nil {
			return 1
		}
		return 2
	}
	if *asJSON {
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "check:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		writeReport(stdout, res)
	}
	if !res.OK() {
		return 1
	}
	return 0
}

// checkFlags validates the flags that name network endpoints before
// anything is asked, and returns why they are wrong, or "".
func checkFlags(dnsServer, smtpPort string, timeout time.Duration) string {
	if dnsServer != "" {
		host, port, err := net.SplitHostPort(dnsServer)
		if err != nil || host == "" || !validPort(port) {
			return fmt.Sprintf("-dns %s: want host:port, such as 127.0.0.1:53 ([::1]:53 for IPv6)", escape.Quote(dnsServer))
		}
	}
	if !validPort(smtpPort) {
		return fmt.Sprintf("-smtp-port %s: want a port number from 1 to 65535", escape.Quote(smtpPort))
	}
	if timeout <= 0 {
		return "-timeout must be positive"
	}
	return ""
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p == strconv.Itoa(n)
}

// checkResolver is the Resolver of the inspection: TXT and MX records
// from policycache.DNSResolver, CNAMEs (delegated setups, RFC 8461 §8.2)
// from package net.
type checkResolver struct {
	*policycache.DNSResolver
	cnames *net.Resolver
}

// LookupCNAME returns the canonical name of host.
func (r *checkResolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	return r.cnames.LookupCNAME(ctx, host)
}

// localTime formats t for the report.
func localTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
