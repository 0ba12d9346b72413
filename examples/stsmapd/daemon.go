package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/policycache"
)

// Timeouts of the metrics endpoint and of policy fetches.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpTimeout           = 10 * time.Second
	httpIdleTimeout       = 30 * time.Second
	httpMaxHeaderBytes    = 8 << 10
	fetchHeaderTimeout    = 30 * time.Second
	fetchHandshakeTimeout = 10 * time.Second
)

// deps are what tests replace: the DNS resolver, the HTTP client of
// policy fetches, the clock. Zero values mean what the configuration says.
type deps struct {
	resolver   policycache.TTLResolver
	httpClient *http.Client
	now        func() time.Time
}

// daemon is the running program: the policy cache, the socketmap server
// and the metrics endpoint.
type daemon struct {
	cfg     Config
	level   *slog.LevelVar
	log     *slog.Logger
	metrics *metrics
	cache   *policycache.Cache
	redis   *redisresp.Client // of a Redis store, closed after the cache
	srv     *server

	ln      net.Listener
	httpSrv *http.Server
	httpLn  net.Listener
	served  chan error
}

// newDaemon builds the cache and the server of cfg, which must be valid.
// Logs go to logOut.
func newDaemon(cfg Config, d deps, logOut io.Writer) (*daemon, error) {
	dm := &daemon{cfg: cfg, level: new(slog.LevelVar), metrics: newMetrics()}
	level, _ := parseLevel(cfg.LogLevel)
	dm.level.Set(level)
	dm.log = slog.New(fetchFailureCounter{slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: dm.level}), dm.metrics})

	resolver := d.resolver
	if resolver == nil {
		resolver = &policycache.DNSResolver{Servers: cfg.Resolvers, ConfigFile: cfg.ResolvConf}
	}
	client := d.httpClient
	if client == nil {
		var err error
		if client, err = fetchClient(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	counted := *client
	next := counted.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	counted.Transport = countingTransport{next, &dm.metrics.fetches}

	sk, err := parseStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	store, redisClient, err := openStore(sk, time.Duration(cfg.DiscoveryTimeout), &dm.metrics.storeErrors)
	if err != nil {
		return nil, err
	}

	cache, err := policycache.New(policycache.Config{
		Resolver:   countingResolver{resolver, &dm.metrics.discoveries},
		HTTPClient: &counted,
		Store:      store,
		Now:        d.now,
		Logger:     dm.log,
		Timeout:    time.Duration(cfg.DiscoveryTimeout),
		MaxMemory:  cfg.CacheMemoryMiB << 20,
	})
	if err != nil {
		if redisClient != nil {
			redisClient.Close()
		}
		return nil, err
	}
	dm.cache, dm.redis = cache, redisClient
	dm.metrics.cacheSize = cache.Len
	dm.srv = newServer(cache, dm.log, dm.metrics, dm.settings(cfg))
	return dm, nil
}

// fetchClient is the HTTP client of policy fetches: the system CA pool
// (which honours SSL_CERT_FILE and SSL_CERT_DIR) or the PEM file caFile.
func fetchClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = fetchHandshakeTimeout
	tr.ResponseHeaderTimeout = fetchHeaderTimeout
	tr.MaxIdleConnsPerHost = 1
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: no PEM certificate in %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr}, nil
}

// settings returns the server settings of cfg, with the counters of each
// zone kept across reloads.
func (dm *daemon) settings(cfg Config) *settings {
	st := &settings{
		zones:          make(map[string]*zone, len(cfg.Zones)),
		requestTimeout: time.Duration(cfg.RequestTimeout),
		idleTimeout:    time.Duration(cfg.IdleTimeout),
		maxConns:       int64(cfg.MaxConnections),
	}
	for name, z := range cfg.Zones {
		st.zones[name] = &zone{Zone: z, name: name, counts: dm.metrics.zone(name)}
	}
	return st
}

// start listens on the socketmap and metrics addresses and serves them.
func (dm *daemon) start() error {
	network, addr := "tcp", dm.cfg.Listen
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
		os.Remove(path) // a socket left by an earlier run
	}
	var ln net.Listener
	var err error
	if addr == listenSystemd {
		network = ""
		ln, err = systemdListener()
	} else {
		ln, err = net.Listen(network, addr)
	}
	if err != nil {
		return err
	}
	if network == "unix" {
		// Postfix's smtp processes (user postfix) must be able to connect;
		// what they learn is public data.
		if err := os.Chmod(addr, 0o666); err != nil {
			ln.Close()
			return err
		}
	}
	dm.ln = ln
	dm.served = make(chan error, 2)
	if dm.cfg.Metrics != "" {
		if dm.httpLn, err = net.Listen("tcp", dm.cfg.Metrics); err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", dm.metrics)
		mux.HandleFunc("GET /healthz", dm.health)
		dm.httpSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: httpReadHeaderTimeout,
			ReadTimeout:       httpTimeout,
			WriteTimeout:      httpTimeout,
			IdleTimeout:       httpIdleTimeout,
			MaxHeaderBytes:    httpMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(dm.log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := dm.httpSrv.Serve(dm.httpLn); !errors.Is(err, http.ErrServerClosed) {
				dm.served <- err
			}
		}()
	}
	go func() {
		if err := dm.srv.serve(ln); err != nil {
			dm.served <- err
		}
	}()
	dm.log.Info("stsmapd serving", "socketmap", ln.Addr().String(), "metrics", dm.cfg.Metrics,
		"store", redactStore(dm.cfg.Store), "zones", len(dm.cfg.Zones))
	return nil
}

// health answers the health check: 200 while the socketmap server serves.
func (dm *daemon) health(w http.ResponseWriter, _ *http.Request) {
	if dm.srv.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// reload applies a new configuration: zones, timeouts, max_connections
// and log level at once, for open connections too. Listen addresses,
// store, resolvers and CA file need a restart; a change of them is logged.
func (dm *daemon) reload(cfg Config) {
	for _, f := range []struct{ name, old, new string }{
		{"listen", dm.cfg.Listen, cfg.Listen},
		{"metrics", dm.cfg.Metrics, cfg.Metrics},
		{"store", redactStore(dm.cfg.Store), redactStore(cfg.Store)},
		{"resolvers", strings.Join(dm.cfg.Resolvers, ","), strings.Join(cfg.Resolvers, ",")},
		{"resolv_conf", dm.cfg.ResolvConf, cfg.ResolvConf},
		{"ca_file", dm.cfg.CAFile, cfg.CAFile},
		{"discovery_timeout", time.Duration(dm.cfg.DiscoveryTimeout).String(), time.Duration(cfg.DiscoveryTimeout).String()},
		{"cache_memory_mib", strconv.FormatInt(dm.cfg.CacheMemoryMiB, 10), strconv.FormatInt(cfg.CacheMemoryMiB, 10)},
	} {
		if f.old != f.new {
			dm.log.Warn("configuration change needs a restart; keeping the running value", "setting", f.name, "running", f.old, "new", f.new)
		}
	}
	level, _ := parseLevel(cfg.LogLevel)
	dm.level.Set(level)
	dm.srv.settings.Store(dm.settings(cfg))
	dm.cfg.Zones, dm.cfg.RequestTimeout, dm.cfg.IdleTimeout = cfg.Zones, cfg.RequestTimeout, cfg.IdleTimeout
	dm.cfg.MaxConnections, dm.cfg.DrainTimeout, dm.cfg.LogLevel = cfg.MaxConnections, cfg.DrainTimeout, cfg.LogLevel
	dm.log.Info("configuration reloaded", "zones", len(cfg.Zones), "log_level", cfg.LogLevel)
}

// shutdown drains the socketmap server for at most the drain timeout,
// stops the metrics endpoint and closes the cache.
func (dm *daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(dm.cfg.DrainTimeout))
	defer cancel()
	dm.srv.shutdown(ctx)
	if dm.httpSrv != nil {
		dm.httpSrv.Shutdown(ctx)
	}
	dm.close()
	dm.log.Info("stsmapd stopped")
}

// close closes the cache, then the Redis client of its store.
func (dm *daemon) close() {
	dm.cache.Close()
	if dm.redis != nil {
		dm.redis.Close()
	}
}
