package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// defaultConfigName is the configuration file looked for next to the
// binary when -config is not given.
const defaultConfigName = "policyhost.json"

// options are the checked flags.
type options struct {
	config    string // the configuration file
	addr      string // the address to serve policies on, host:port
	loopback  bool   // addr is a loopback address
	certFile  string // static certificate chain, with keyFile
	keyFile   string
	acmeCache string        // ACME mode: where the account key and certificates live
	acmeDir   string        // the ACME directory URL
	acmeEmail string        // the ACME account's contact, or ""
	acmeRoots string        // PEM roots for the ACME server's HTTPS, or "" for the system's
	httpAddr  string        // where to answer HTTP-01 challenges, or ""
	watch     time.Duration // how often to look for a changed configuration, or 0
	print     bool
}

// errHelp is returned by parseFlags for -h; usage has been printed.
var errHelp = errors.New("help requested")

// usage is the synopsis printed for -h and after a flag error.
const usage = "usage: policyhost [-config file] [-watch interval] [-addr host:port] [-acme-cache dir [-acme-directory url] [-acme-email addr] [-http-addr host:port] | -cert file -key file] [-print]"

// parseFlags parses and checks args. Every error is one line that names
// the flag and the reason.
func parseFlags(args []string, e *env) (*options, error) {
	fs := flag.NewFlagSet("policyhost", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage printed on -h only
	o := &options{}
	fs.StringVar(&o.config, "config", "", "the configuration file (default "+defaultConfigName+" next to the binary)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8443", "the address to serve policies on: an IP address, localhost or nothing (every address), and a port")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate chain valid for every mta-sts.<domain>, re-read on SIGHUP")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key of -cert")
	fs.StringVar(&o.acmeCache, "acme-cache", "", "get certificates from an ACME CA and keep them and the account key in this directory")
	fs.StringVar(&o.acmeDir, "acme-directory", defaultACMEDirectory, "the ACME CA's directory URL")
	fs.StringVar(&o.acmeEmail, "acme-email", "", "the contact address of the ACME account, for the CA's expiry and policy mail")
	fs.StringVar(&o.acmeRoots, "acme-roots", "", "PEM file of the CA certificates to trust for the ACME server's HTTPS (default: the system's)")
	fs.StringVar(&o.httpAddr, "http-addr", "", "also answer ACME HTTP-01 challenges on this address, such as :80 (default: TLS-ALPN-01 on -addr only)")
	fs.DurationVar(&o.watch, "watch", 0, "reload the configuration when its content changes, looking at this interval, such as 10s (default: on SIGHUP only)")
	fs.BoolVar(&o.print, "print", false, "print the DNS records and the publishing order, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(e.stdout, usage)
			fmt.Fprintln(e.stdout, "Serves the MTA-STS policies (RFC 8461) of the domains of the configuration file; SIGHUP reloads it.")
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %s; the flags come first", escape.Quote(fs.Arg(0)))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var err error
	if o.config, err = configPath(o.config, e.executable); err != nil {
		return nil, err
	}
	if o.watch != 0 && o.watch < time.Second {
		return nil, fmt.Errorf("-watch %v: at least 1s", o.watch)
	}
	if o.addr, o.loopback, err = checkAddr("-addr", o.addr); err != nil {
		return nil, err
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if o.acmeCache == "" {
		for _, name := range []string{"acme-directory", "acme-email", "acme-roots", "http-addr"} {
			if given[name] {
				return nil, fmt.Errorf("-%s needs -acme-cache, the directory for the ACME account key and certificates", name)
			}
		}
	} else {
		if o.certFile != "" {
			return nil, errors.New("-acme-cache and -cert exclude each other: certificates come either from an ACME CA or from files")
		}
		if err := checkACMEFlags(o); err != nil {
			return nil, err
		}
	}
	if o.certFile == "" && o.acmeCache == "" && !o.loopback && !o.print {
		return nil, fmt.Errorf("-addr %s: plain HTTP only on a loopback address (127.0.0.1, ::1, localhost), for a proxy that terminates TLS; give -acme-cache or -cert and -key to serve HTTPS", o.addr)
	}
	return o, nil
}

// checkACMEFlags checks the flags of ACME mode.
func checkACMEFlags(o *options) error {
	u, err := url.Parse(o.acmeDir)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("-acme-directory %s: want an https:// URL, such as %s", escape.Quote(o.acmeDir), defaultACMEDirectory)
	}
	if o.acmeEmail != "" {
		at := strings.LastIndexByte(o.acmeEmail, '@')
		if at <= 0 || at == len(o.acmeEmail)-1 || strings.ContainsAny(o.acmeEmail, " \t\r\n<>,;:") {
			return fmt.Errorf("-acme-email %s: want a bare address, such as hostmaster@example.com", escape.Quote(o.acmeEmail))
		}
	}
	if o.httpAddr != "" {
		var err error
		if o.httpAddr, _, err = checkAddr("-http-addr", o.httpAddr); err != nil {
			return err
		}
	}
	return nil
}

// checkAddr checks the listening address addr of flag name and returns it
// with localhost replaced by 127.0.0.1, and whether it is loopback.
func checkAddr(name, addr string) (string, bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("%s %s: want host:port, such as 127.0.0.1:8443 or :443", name, escape.Quote(addr))
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", false, fmt.Errorf("%s %s: port %s is not a number from 0 to 65535", name, escape.Quote(addr), escape.Quote(port))
	}
	port = strconv.FormatUint(n, 10)
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "":
		return ":" + port, false, nil
	case "localhost":
		// RFC 6761 §6.3: localhost is the loopback address. It is not
		// looked up, so that a hosts file cannot turn it into another.
		return net.JoinHostPort("127.0.0.1", port), true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false, fmt.Errorf("%s %s: the host must be an IP address, localhost or nothing (every address)", name, escape.Quote(addr))
	}
	return net.JoinHostPort(ip.String(), port), ip.IsLoopback(), nil
}

// configPath returns the configuration file to read: name if given,
// otherwise policyhost.json in the directory of the binary, never a path
// relative to the working directory.
func configPath(name string, executable func() (string, error)) (string, error) {
	if name != "" {
		return name, nil
	}
	exe, err := executable()
	if err != nil {
		return "", fmt.Errorf("-config not given and the binary's directory is unknown (%v); give -config", err)
	}
	path := filepath.Join(filepath.Dir(exe), defaultConfigName)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("-config not given and there is no %s next to the binary (%s); give -config file", defaultConfigName, path)
	}
	return path, nil
}
