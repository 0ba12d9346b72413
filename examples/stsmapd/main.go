package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, signals))
}

// options are the command line: the configuration file, the flags that
// override it, and the one-shot query.
type options struct {
	configFile string
	query      string
	queryZone  string
	fs         *flag.FlagSet
	apply      func(*Config) error // the flags given, over a Config
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{fs: flag.NewFlagSet("stsmapd", flag.ContinueOnError)}
	fs := o.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: stsmapd [flags]          serve Postfix socketmap requests\n       stsmapd -query DOMAIN [flags]  print the reply for DOMAIN and why")
		fs.PrintDefaults()
	}
	d := defaultConfig()
	fs.StringVar(&o.configFile, "config", "", "JSON configuration `file` (flags override it; SIGHUP reloads it)")
	fs.StringVar(&o.query, "query", "", "look up `DOMAIN` once, print the reply and the reasons, and exit")
	fs.StringVar(&o.queryZone, "zone", defaultZone, "the zone of -query")
	listen := fs.String("listen", d.Listen, "socketmap `address`: host:port, unix:PATH or systemd (socket activation)")
	metricsAddr := fs.String("metrics", "", "loopback `host:port` for /metrics and /healthz (default none)")
	store := fs.String("store", d.Store, "policy store: memory, dir:PATH (kept across restarts) or a Redis URL redis://[:PASSWORD@]HOST:PORT/DB?prefix=P, rediss://... or unix:///PATH?db=N&prefix=P (the fleet cache of redisstore)")
	resolvers := fs.String("resolvers", "", "comma-separated DNS `servers` (default: those of resolv.conf)")
	resolvConf := fs.String("resolv-conf", "", "resolv.conf `file` (default /etc/resolv.conf)")
	caFile := fs.String("ca-file", "", "PEM `file` of CAs for policy hosts (default: the system pool, SSL_CERT_FILE honoured)")
	requestTimeout := fs.Duration("request-timeout", time.Duration(d.RequestTimeout), "longest wait for an answer before replying as undetermined")
	discoveryTimeout := fs.Duration("discovery-timeout", time.Duration(d.DiscoveryTimeout), "bound of one discovery (TXT lookup and policy fetch)")
	idleTimeout := fs.Duration("idle-timeout", time.Duration(d.IdleTimeout), "close a connection idle that long")
	cacheMemory := fs.Int64("cache-memory-mib", d.CacheMemoryMiB, "memory bound of the policy cache in MiB: the domains ready for a lookup without allocation (0: policycache's default, 64)")
	maxConns := fs.Int("max-connections", d.MaxConnections, "connections served at once; more are answered TEMP")
	drainTimeout := fs.Duration("drain-timeout", time.Duration(d.DrainTimeout), "longest wait for requests in progress on SIGTERM")
	logLevel := fs.String("log-level", d.LogLevel, "debug, info, warn or error (debug logs every decision)")
	zones := fs.String("zones", "", "zones as `\"NAME[:OPT,...] ...\"`, OPT strict_testing, tlsrpt or fail_open_undetermined (default \"postfix\")")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.apply = func(c *Config) error {
		str := func(name string, dst *string, v string) {
			if set[name] {
				*dst = v
			}
		}
		dur := func(name string, dst *Duration, v time.Duration) {
			if set[name] {
				*dst = Duration(v)
			}
		}
		str("listen", &c.Listen, *listen)
		str("metrics", &c.Metrics, *metricsAddr)
		str("store", &c.Store, *store)
		str("resolv-conf", &c.ResolvConf, *resolvConf)
		str("ca-file", &c.CAFile, *caFile)
		str("log-level", &c.LogLevel, *logLevel)
		if set["resolvers"] {
			c.Resolvers = splitList(*resolvers, ",")
		}
		dur("request-timeout", &c.RequestTimeout, *requestTimeout)
		dur("discovery-timeout", &c.DiscoveryTimeout, *discoveryTimeout)
		dur("idle-timeout", &c.IdleTimeout, *idleTimeout)
		dur("drain-timeout", &c.DrainTimeout, *drainTimeout)
		if set["cache-memory-mib"] {
			c.CacheMemoryMiB = *cacheMemory
		}
		if set["max-connections"] {
			c.MaxConnections = *maxConns
		}
		if set["zones"] {
			z, err := parseZones(*zones)
			if err != nil {
				return err
			}
			c.Zones = z
		}
		return nil
	}
	return o, nil
}

// load reads the configuration file, applies the flags and validates.
func (o *options) load() (Config, error) {
	cfg, err := readConfig(o.configFile)
	if err == nil {
		err = o.apply(&cfg)
	}
	if err == nil {
		err = cfg.validate()
	}
	return cfg, err
}

// splitList splits s at sep, dropping empty elements and spaces.
func splitList(s, sep string) []string {
	var out []string
	for _, f := range strings.Split(s, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseZones reads the -zones flag: "postfix strict:strict_testing,tlsrpt".
func parseZones(s string) (map[string]Zone, error) {
	zones := map[string]Zone{}
	for _, f := range strings.Fields(s) {
		name, opts, _ := strings.Cut(f, ":")
		var z Zone
		for _, opt := range splitList(opts, ",") {
			switch opt {
			case "strict_testing":
				z.StrictTesting = true
			case "tlsrpt":
				z.TLSRPT = true
			case "fail_open_undetermined":
				z.FailOpenUndetermined = true
			default:
				return nil, fmt.Errorf("-zones: unknown option %q of zone %q", opt, name)
			}
		}
		zones[name] = z
	}
	return zones, nil
}

// run is the program: it serves until ctx ends or SIGTERM/SIGINT arrives
// on signals, and reloads on SIGHUP. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "stsmapd:", err)
		return 2
	}
	cfg, err := o.load()
	if err != nil {
		fmt.Fprintln(stderr, "stsmapd: configuration:", err)
		return 2
	}
	if o.query != "" {
		return query(ctx, cfg, o.queryZone, o.query, stdout, stderr)
	}
	dm, err := newDaemon(cfg, deps{}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "stsmapd:", err)
		return 1
	}
	if err := dm.start(); err != nil {
		dm.close()
		fmt.Fprintln(stderr, "stsmapd:", err)
		return 1
	}
	defer dm.shutdown()
	for {
		select {
		case <-ctx.Done():
			return 0
		case err := <-dm.served:
			dm.log.Error("serving failed", "err", err)
			return 1
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				dm.log.Info("draining", "signal", sig.String())
				return 0
			}
			cfg, err := o.load()
			if err != nil {
				dm.log.Error("reloading the configuration failed; keeping the running one", "err", err)
				continue
			}
			dm.reload(cfg)
		}
	}
}
