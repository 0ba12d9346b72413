// Command policygen writes an MTA-STS policy file (RFC 8461 §3.2) and the
// _mta-sts TXT record (§3.1) that announces it, ready to publish.
//
// Usage:
//
//	policygen [-domain example.com] [-mode testing] [-mx host]... [-max-age seconds] [-ttl seconds] [-o dir]
//
// Standard output is exactly the policy file, lines ending in CRLF (the
// canonical form), so that
//
//	go run ./examples/policygen -domain example.com -mode testing \
//		-mx mx1.example.com -mx '*.mail.example.com' -max-age 604800 > mta-sts.txt
//
// gives the file to serve at
// https://mta-sts.example.com/.well-known/mta-sts.txt. The TXT record and
// the order to publish in go to standard error:
//
//	_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=3f0c9e..."
//
// With -o dir, nothing is written to standard output: dir/mta-sts.txt
// receives the policy file and dir/mta-sts.zone a zone-file fragment with
// the TXT record (each file replaced whole, never left half-written).
//
// The id is derived from the policy content with mtasts.PolicyID, so it
// changes exactly when the policy does. Publish the policy file first and
// the TXT record second (§8.1).
//
// Host names may be given in U-labels ("bücher.example"); they are written
// as A-labels. Without -mx, the policy lists mail.<domain> (except for mode
// none); an -mx given twice, in whatever spelling, is an error. Invalid
// input is rejected with one line naming the culprit and exit status 1;
// bad flags exit with status 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
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

// usage is the synopsis printed for -h.
const usage = "usage: policygen [-domain d] [-mode m] [-mx host]... [-max-age seconds] [-ttl seconds] [-o dir]"

// run is the program: it parses args, writes the policy file to stdout
// (or to -o), the record and advice to stderr, and returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	domain := fs.String("domain", "example.com", "the policy domain")
	mode := fs.String("mode", "testing", "the policy mode: enforce, testing or none")
	var mx mxFlags
	fs.Var(&mx, "mx", "an MX host name or pattern such as *.mail.example.com; repeat for several (default mail.<domain>)")
	maxAge := fs.Int64("max-age", 604800, "max_age in seconds, at most 31557600 (one year)")
	ttl := fs.Uint("ttl", 3600, "the TTL of the TXT record, in seconds")
	outDir := fs.String("o", "", "write dir/mta-sts.txt and dir/mta-sts.zone instead of standard output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usage)
			fmt.Fprintln(stderr, "Writes an MTA-STS policy file to standard output and its _mta-sts TXT record to standard error (RFC 8461).")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "policygen:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "policygen: unexpected argument %s; the flags come first\n", escape.Quote(fs.Arg(0)))
		return 2
	}

	text, record, err := generate(*domain, mtasts.Mode(*mode), mx, *maxAge, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	url := "https://mta-sts." + strings.TrimPrefix(strings.TrimSuffix(record.Name, "."), "_mta-sts.") + mtasts.PolicyPath
	if *outDir == "" {
		stdout.Write(text)
		fmt.Fprintf(stderr, "policygen: serve the policy file (standard output) at %s as text/plain over HTTPS,\n", url)
		fmt.Fprintln(stderr, "then publish this record (RFC 8461 §8.1):")
		fmt.Fprintln(stderr, record)
		return 0
	}
	zone := fmt.Sprintf("; MTA-STS (RFC 8461): publish this record once %s\n; serves mta-sts.txt (§8.1).\n%s\n", url, record)
	if fi, err := os.Stat(*outDir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "policygen: -o %s: not a directory\n", escape.Quote(*outDir))
		return 1
	}
	policyFile, zoneFile := filepath.Join(*outDir, "mta-sts.txt"), filepath.Join(*outDir, "mta-sts.zone")
	err = writeFile(policyFile, text)
	if err == nil {
		err = writeFile(zoneFile, []byte(zone))
	}
	if err != nil {
		fmt.Fprintln(stderr, "policygen:", err)
		return 1
	}
	fmt.Fprintf(stderr, "policygen: wrote %s and %s; serve the first at %s, then publish the second\n", policyFile, zoneFile, url)
	return 0
}

// generate checks the input and returns the policy file and its record.
func generate(domain string, mode mtasts.Mode, mx []string, maxAge int64, ttl uint) ([]byte, mtasts.DNSRecord, error) {
	name, err := policyDomain(domain)
	if err != nil {
		return nil, mtasts.DNSRecord{}, err
	}
	if len(mx) == 0 && mode != mtasts.ModeNone {
		mx = []string{"mail." + name}
	}
	if err := uniqueMX(mx); err != nil {
		return nil, mtasts.DNSRecord{}, err
	}
	if maxAge < 0 || maxAge > int64(mtasts.MaxMaxAge/time.Second) {
		return nil, mtasts.DNSRecord{}, fmt.Errorf("-max-age %d: max_age must be from 0 to 31557600 seconds (one year)", maxAge)
	}
	p, err := mtasts.NewPolicy(mode, time.Duration(maxAge)*time.Second, mx...)
	if err != nil {
		return nil, mtasts.DNSRecord{}, err
	}
	text, err := p.MarshalText()
	if err != nil {
		return nil, mtasts.DNSRecord{}, err
	}
	// What senders will read: it must pass the strict parser.
	if _, err := mtasts.ParsePolicy(text); err != nil {
		return nil, mtasts.DNSRecord{}, err
	}
	if ttl > 1<<31-1 {
		return nil, mtasts.DNSRecord{}, fmt.Errorf("-ttl %d: a TTL is at most 2147483647 seconds (RFC 2181 §8)", ttl)
	}
	record, err := mtasts.RecordTXT(name, &mtasts.Record{ID: mtasts.PolicyID(p)}, time.Duration(ttl)*time.Second)
	if err != nil {
		return nil, mtasts.DNSRecord{}, fmt.Errorf("-ttl %d: %w", ttl, err)
	}
	return text, record, nil
}

// policyDomain checks the policy domain and returns it in A-labels, lower
// case, without a trailing dot.
func policyDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "*.") {
		return "", fmt.Errorf("-domain %s: the policy domain cannot be a wildcard", escape.Quote(domain))
	}
	name, err := mtasts.NormalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("-domain: %w", err)
	}
	return name, nil
}

// uniqueMX rejects an -mx given twice, in whatever spelling (letter case,
// a trailing dot, U-labels).
func uniqueMX(mx []string) error {
	seen := make(map[mtasts.Pattern]string, len(mx))
	for _, s := range mx {
		p, err := mtasts.ParsePattern(s)
		if err != nil {
			return fmt.Errorf("-mx %s: %w", escape.Quote(s), err)
		}
		if first, dup := seen[p]; dup {
			return fmt.Errorf("-mx %s: given twice (the first time as %s)", escape.Quote(s), escape.Quote(first))
		}
		seen[p] = s
	}
	return nil
}

// writeFile replaces the file name with data: written to a temporary file
// in the same directory, then renamed, so that a reader never sees half a
// file and a failure leaves the old one.
func writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
