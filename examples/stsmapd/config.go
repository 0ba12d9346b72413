package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Defaults of the configuration: with no flags and no file, stsmapd
// serves zone "postfix" on 127.0.0.1:8461 (the port of
// postfix-mta-sts-resolver), from memory, with the system's resolvers and
// CA pool.
const (
	defaultListen           = "127.0.0.1:8461"
	defaultZone             = "postfix"
	defaultRequestTimeout   = 20 * time.Second
	defaultDiscoveryTimeout = time.Minute
	defaultIdleTimeout      = 60 * time.Second
	defaultMaxConnections   = 512
	defaultCacheMemoryMiB   = 16
	defaultDrainTimeout     = 30 * time.Second
	// maxConfigSize bounds the configuration file.
	maxConfigSize = 1 << 20
	// maxZones bounds the zones of a configuration.
	maxZones = 1000
)

// Config is the configuration of stsmapd: a JSON file (-config) whose
// fields flags can override. Durations are Go durations ("20s", "1m").
type Config struct {
	// Listen is the socketmap address, "host:port" (TCP) or "unix:PATH",
	// or "systemd" for the socket of a systemd .socket unit.
	Listen string `json:"listen"`
	// Metrics is the loopback "host:port" of the HTTP endpoint with
	// /metrics (Prometheus text format) and /healthz; empty means none.
	Metrics string `json:"metrics"`
	// Store is where fetched policies are kept: "memory" (lost on
	// restart), "dir:PATH" (policycache.DirStore, kept across restarts) or
	// a Redis URL, "redis://[[user]:password@]host:port/db?prefix=P",
	// "rediss://..." (TLS) or "unix:///path?db=N&prefix=P": the fleet
	// cache shared with Go MTAs on the redisstore module's PolicyStore
	// with the same prefix.
	Store string `json:"store"`
	// Resolvers are the DNS servers to ask ("ip" or "ip:port"); empty
	// means those of ResolvConf.
	Resolvers []string `json:"resolvers,omitempty"`
	// ResolvConf is the resolv.conf(5) file read when Resolvers is empty;
	// empty means /etc/resolv.conf.
	ResolvConf string `json:"resolv_conf,omitempty"`
	// CacheMemoryMiB bounds the memory of the policy cache, in MiB
	// (policycache.Config.MaxMemory): past it the least recently used
	// domains leave it, their policies kept in the store (with store
	// "memory", in a compact form of about 250 bytes each). Default 16:
	// about 14 000 domains ready for a lookup without allocation. Zero
	// means policycache's default (64 MiB).
	CacheMemoryMiB int64 `json:"cache_memory_mib,omitempty"`
	// CAFile, when set, replaces the system CA pool for policy fetches
	// (SSL_CERT_FILE is honoured either way by the system pool).
	CAFile string `json:"ca_file,omitempty"`

	// RequestTimeout bounds the answer to one request: a discovery still
	// running then answers as "could not determine" (see Zone). It must
	// stay well below Postfix's own 100 s socketmap timeout.
	RequestTimeout Duration `json:"request_timeout"`
	// DiscoveryTimeout bounds one discovery (TXT lookup and fetch).
	DiscoveryTimeout Duration `json:"discovery_timeout"`
	// IdleTimeout closes a connection without a request for that long.
	// Postfix closes idle socketmap connections itself after 10 s.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxConnections bounds the connections served at once; more are
	// answered TEMP (or closed) at once.
	MaxConnections int `json:"max_connections"`
	// DrainTimeout bounds how long SIGTERM waits for requests in progress.
	DrainTimeout Duration `json:"drain_timeout"`
	// LogLevel is debug, info, warn or error. Debug logs every decision.
	LogLevel string `json:"log_level"`

	// Zones maps the socketmap name (the part after the last ":" of the
	// main.cf table, "postfix" in socketmap:inet:127.0.0.1:8461:postfix)
	// to its settings. A file that lists zones replaces the default zone.
	Zones map[string]Zone `json:"zones"`
}

// Zone is what a socketmap name answers.
type Zone struct {
	// StrictTesting answers policies in mode testing like enforce: Postfix
	// then refuses MX hosts that fail validation.
	StrictTesting bool `json:"strict_testing"`
	// TLSRPT appends the Postfix ≥ 3.10 TLSRPT attributes (policy_type,
	// policy_domain, mx_host_pattern, policy_string, policy_failure) to
	// secure replies. Postfix before 3.10 rejects them: keep it off there.
	TLSRPT bool `json:"tlsrpt"`
	// FailOpenUndetermined answers "could not determine" (DNS failure or
	// timeout with nothing cached, request deadline passed) NOTFOUND
	// instead of TEMP: mail then goes out at Postfix's default TLS level
	// instead of waiting.
	FailOpenUndetermined bool `json:"fail_open_undetermined"`
}

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// MarshalText writes d as "20s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// defaultConfig is the configuration without file and flags.
func defaultConfig() Config {
	return Config{
		Listen:           defaultListen,
		Store:            "memory",
		RequestTimeout:   Duration(defaultRequestTimeout),
		DiscoveryTimeout: Duration(defaultDiscoveryTimeout),
		IdleTimeout:      Duration(defaultIdleTimeout),
		MaxConnections:   defaultMaxConnections,
		CacheMemoryMiB:   defaultCacheMemoryMiB,
		DrainTimeout:     Duration(defaultDrainTimeout),
		LogLevel:         "info",
		Zones:            map[string]Zone{defaultZone: {}},
	}
}

// readConfig returns the defaults overlaid with the JSON file at path
// (none when path is empty). Unknown fields are errors, so that a typo
// never silently leaves a default in place.
func readConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return cfg, err
	}
	if len(data) > maxConfigSize {
		return cfg, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	cfg.Zones = nil
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Zones == nil {
		cfg.Zones = map[string]Zone{defaultZone: {}}
	}
	return cfg, nil
}

// validate checks cfg as a whole.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.Listen == "" {
		errs = append(errs, errors.New("listen: empty"))
	} else if cfg.Listen != listenSystemd && !strings.HasPrefix(cfg.Listen, "unix:") {
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	if cfg.Metrics != "" {
		if err := loopbackAddr(cfg.Metrics); err != nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		}
	}
	if _, err := parseStore(cfg.Store); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{
		{"request_timeout", cfg.RequestTimeout}, {"discovery_timeout", cfg.DiscoveryTimeout},
		{"idle_timeout", cfg.IdleTimeout}, {"drain_timeout", cfg.DrainTimeout},
	} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, not %v", f.name, time.Duration(f.d)))
		}
	}
	if time.Duration(cfg.RequestTimeout) >= 100*time.Second {
		errs = append(errs, errors.New("request_timeout: must be below Postfix's 100 s socketmap timeout"))
	}
	if cfg.CacheMemoryMiB < 0 || cfg.CacheMemoryMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("cache_memory_mib: %d is not between 0 and %d", cfg.CacheMemoryMiB, 1<<20))
	}
	if cfg.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_connections: must be at least 1, not %d", cfg.MaxConnections))
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Zones) == 0 || len(cfg.Zones) > maxZones {
		errs = append(errs, fmt.Errorf("zones: between 1 and %d needed, not %d", maxZones, len(cfg.Zones)))
	}
	for name := range cfg.Zones {
		if name == "" || strings.ContainsAny(name, " \t\r\n:,") {
			errs = append(errs, fmt.Errorf("zones: invalid name %q (no space, colon or comma)", name))
		}
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// loopbackAddr checks that addr is "ip:port" with a loopback ip: the
// metrics endpoint is for the local monitoring agent only.
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", host)
	}
	return nil
}
