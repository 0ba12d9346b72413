// Command policyhost serves the MTA-STS policies (RFC 8461 §3.2) of many
// domains from one configuration file, gets their certificates from an
// ACME CA, reloads the file on SIGHUP without dropping a connection, and
// prints the DNS records to publish with the order to publish them in.
// It is what a hosted MTA-STS provider runs: customers point
// mta-sts.<domain> (and, to let the provider rotate the id,
// _mta-sts.<domain>) at it (RFC 8461 §8.2).
//
// Usage:
//
//	policyhost [-config file] [-watch interval] [-addr host:port]
//	           [-acme-cache dir [-acme-directory url] [-acme-email addr] [-acme-roots file] [-http-addr host:port]
//	            | -cert file -key file]
//	           [-print]
//
// Try it on loopback with the sample configuration next to this file:
//
//	go run ./examples/policyhost -config examples/policyhost/policyhost.json -print
//	go run ./examples/policyhost -config examples/policyhost/policyhost.json -addr localhost:8080
//	curl -H 'Host: mta-sts.example.net' http://127.0.0.1:8080/.well-known/mta-sts.txt
//
// # Configuration
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
// are written as A-labels; a pattern listed twice is an error); max_age,
// in seconds, is required (at most 31557600; below one week in mode
// testing or enforce it draws a warning, since RFC 8461 §3.2 expects
// weeks); tlsrpt, optional, gives the rua destinations of the domain's
// TLS-RPT record (RFC 8460 §3); ttl is the TTL of the records to publish
// (default 3600). Every policy is checked before anything is served or
// printed. Without -config the file is policyhost.json in the directory
// of the binary, never one relative to the working directory.
//
// # Certificates
//
// Senders fetch policies over HTTPS only, with a certificate valid for
// mta-sts.<domain> (RFC 8461 §3.3). With -acme-cache dir, policyhost gets
// one per configured domain from the ACME CA at -acme-directory (default
// Let's Encrypt), accepting its terms of service, through
// golang.org/x/crypto/acme/autocert: as soon as it starts or reloads, and
// never for a name that is not configured (the host policy is
// mtasts.Handler.ServesHost). The CA validates with TLS-ALPN-01 on -addr,
// which must then be port 443, or with HTTP-01 on -http-addr, which must
// then be port 80; give both to have both. The account key and the
// certificates live in dir/<CA host>, one directory per CA, so that
// certificates of a staging CA never mix with real ones; keep dir private
// (autocert writes files of mode 0600). Certificates are renewed 30 days
// before they expire.
//
// With -cert and -key it serves one certificate chain, valid for every
// mta-sts.<domain> (checked at start and at every reload; re-read on
// SIGHUP, so that an external tool may renew it). Without either, it
// speaks plain HTTP, and only on a loopback address (127.0.0.1, ::1 or
// localhost), for a reverse proxy that terminates TLS.
//
// # Publishing
//
// With -print it writes a zone-file fragment and exits: the policies to
// serve first, then the _smtp._tls and _mta-sts TXT records (the id is
// derived from the policy's content with mtasts.PolicyID, so it changes
// exactly when the policy does), domains in mode testing before those in
// mode enforce (RFC 8461 §8.1: a policy before the record that announces
// it; a domain should move to enforce only after TLS-RPT reports of
// testing show no failures). A customer domain delegates with
//
//	mta-sts.customer.example.  IN CNAME  mta-sts.provider.example.
//	_mta-sts.customer.example. IN CNAME  _mta-sts.customer.example.provider.example.
//
// after which the provider publishes, at the name in its own zone, the
// value printed here for _mta-sts.customer.example, and changes it with
// every change of the policy.
//
// # Live reload
//
// SIGHUP reloads the configuration file (and -cert/-key), and so does a
// change of the file's content with -watch interval (checked at every
// interval; a file caught half-written is invalid and so refused until it
// is whole). A file with any
// error is refused whole and logged; the previous configuration keeps
// serving. Otherwise the new policies are served from the next request
// on, without closing a connection, and only then does policyhost print,
// for each added or changed domain, its new policy id and the records to
// publish (RFC 8461 §8.1), and for each removed domain the records to
// delete. With ACME, the records of an added domain are printed once its
// certificate is there.
//
// # Running it
//
// A systemd unit (the sample policyhost.service next to this file):
//
//	[Unit]
//	Description=MTA-STS policy host
//	After=network-online.target
//	Wants=network-online.target
//
//	[Service]
//	ExecStart=/usr/local/bin/policyhost -config /etc/policyhost/policyhost.json -addr :443 -http-addr :80 -acme-cache /var/lib/policyhost/acme -acme-email hostmaster@provider.example
//	ExecReload=/bin/kill -HUP $MAINPID
//	DynamicUser=yes
//	StateDirectory=policyhost
//	AmbientCapabilities=CAP_NET_BIND_SERVICE
//	CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//	NoNewPrivileges=yes
//	ProtectSystem=strict
//	ProtectHome=yes
//	PrivateTmp=yes
//	Restart=on-failure
//
//	[Install]
//	WantedBy=multi-user.target
//
// then "systemctl reload policyhost" after each change of the file, and
// publish what the journal shows.
//
// Every server has header, read, write and idle timeouts and an 8 KiB
// header cap. Exit status: 0; 1 when the configuration is invalid or a
// server fails; 2 for bad usage.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], &env{
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		reload:     hup,
		executable: os.Executable,
		listen:     net.Listen,
		ticker:     newTicker,
	})
	stop()
	os.Exit(code)
}

// env is what the program takes from its surroundings; tests replace it.
type env struct {
	stdout, stderr io.Writer
	// reload delivers SIGHUP.
	reload <-chan os.Signal
	// executable returns the path of the binary (os.Executable).
	executable func() (string, error)
	// listen opens a listener (net.Listen).
	listen func(network, address string) (net.Listener, error)
	// ticker returns the ticks of -watch and a function that stops them
	// (time.NewTicker).
	ticker func(time.Duration) (<-chan time.Time, func())
}

// newTicker is the ticker of env for the program.
func newTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// run is the program: with -print it returns once the plan is printed,
// otherwise when ctx ends or a server fails.
func run(ctx context.Context, args []string, e *env) int {
	o, err := parseFlags(args, e)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "policyhost:", err)
		return 2
	}
	data, err := readConfig(o.config)
	var sites []site
	var warnings []string
	if err == nil {
		sites, warnings, err = parseConfig(o.config, data)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "policyhost:", err)
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "policyhost: warning:", w)
	}
	if o.print {
		printPlan(e.stdout, sites)
		return 0
	}
	if err := serve(ctx, o, e, sites, sha256.Sum256(data)); err != nil {
		fmt.Fprintln(e.stderr, "policyhost:", err)
		return 1
	}
	return 0
}
