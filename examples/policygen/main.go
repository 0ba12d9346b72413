// Command policygen prints an MTA-STS policy file (RFC 8461 §3.2) and the
// _mta-sts TXT record (§3.1) that announces it, ready to publish.
//
// Usage:
//
//	policygen [-domain example.com] [-mode testing] [-mx host]... [-max-age seconds] [-ttl seconds]
//
// For example:
//
//	go run ./examples/policygen -domain example.com -mode testing \
//		-mx mx1.example.com -mx '*.mail.example.com' -max-age 604800
//
// prints the policy file to serve at
// https://mta-sts.example.com/.well-known/mta-sts.txt (its lines end with
// CRLF, the canonical form) and a zone-file line such as
//
//	_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=3f0c9e..."
//
// The id is derived from the policy content with mtasts.PolicyID, so it
// changes exactly when the policy does. Publish the policy file first and
// the TXT record second (§8.1).
//
// Host names may be given in U-labels ("bücher.example"); they are written
// as A-labels. Without -mx, the policy lists mail.<domain> (except for mode
// none). Invalid input is rejected with the mtasts package's error and exit
// status 1; bad flags exit with status 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// mxFlags collects repeated -mx flags.
type mxFlags []string

func (m *mxFlags) String() string { return strings.Join(*m, ", ") }

func (m *mxFlags) Set(s string) error {
	*m = append(*m, s)
	return nil
}

// run is the program: it parses args, writes the policy and record to
// stdout and problems to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "example.com", "the policy domain")
	mode := fs.String("mode", "testing", "the policy mode: enforce, testing or none")
	var mx mxFlags
	fs.Var(&mx, "mx", "an MX host name or pattern such as *.mail.example.com; repeat for several (default mail.<domain>)")
	maxAge := fs.Int64("max-age", 604800, "max_age in seconds, at most 31557600 (one year)")
	ttl := fs.Uint("ttl", 3600, "the TTL of the TXT record, in seconds")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: policygen [-domain d] [-mode m] [-mx host]... [-max-age seconds] [-ttl seconds]")
		fmt.Fprintln(stderr, "Prints an MTA-STS policy file and its _mta-sts TXT record (RFC 8461).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "policygen: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	name, err := policyDomain(*domain)
	if err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	if len(mx) == 0 && mtasts.Mode(*mode) != mtasts.ModeNone {
		mx = mxFlags{"mail." + name}
	}
	if *maxAge < 0 || *maxAge > int64(mtasts.MaxMaxAge/time.Second) {
		fmt.Fprintf(stderr, "policygen: -max-age %d: max_age must be from 0 to 31557600 seconds (one year)\n", *maxAge)
		return 1
	}
	p, err := mtasts.NewPolicy(mtasts.Mode(*mode), time.Duration(*maxAge)*time.Second, mx...)
	if err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	text, err := p.MarshalText()
	if err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	// What senders will read: it must pass the strict parser.
	if _, err := mtasts.ParsePolicy(text); err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	record := &mtasts.Record{ID: mtasts.PolicyID(p)}

	fmt.Fprintf(stdout, "# Policy file: serve it at https://mta-sts.%s/.well-known/mta-sts.txt\n", name)
	fmt.Fprintf(stdout, "# as text/plain over HTTPS (lines end with CRLF).\n")
	stdout.Write(text)
	fmt.Fprintf(stdout, "\n# DNS record: publish it after the policy file is served (RFC 8461 §8.1).\n")
	fmt.Fprintf(stdout, "_mta-sts.%s. %d IN TXT %s\n", name, *ttl, quoteTXT(record.String()))
	return 0
}

// policyDomain checks the policy domain and returns it in A-labels, lower
// case, without a trailing dot.
func policyDomain(domain string) (string, error) {
	p, err := mtasts.ParsePattern(domain)
	if err != nil {
		return "", fmt.Errorf("-domain %q: %w", domain, err)
	}
	if strings.HasPrefix(string(p), "*.") {
		return "", fmt.Errorf("-domain %q: the policy domain cannot be a wildcard", domain)
	}
	return string(p), nil
}

// quoteTXT writes s as the character-strings of a TXT record in zone-file
// syntax (RFC 1035 §5.1): quoted, with '"' and '\' escaped, split into
// strings of at most 255 bytes, which receivers join again (RFC 8461 §3.1).
func quoteTXT(s string) string {
	var b strings.Builder
	for first := true; first || s != ""; first = false {
		n := min(len(s), 255)
		if !first {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for i := 0; i < n; i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
		s = s[n:]
	}
	return b.String()
}
