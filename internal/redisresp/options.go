package redisresp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Defaults of Options.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultCommandTimeout = 3 * time.Second
	DefaultPoolSize       = 4
	maxDB                 = 1 << 16
)

// Options say where and how a Client connects.
type Options struct {
	// Network is "tcp" or "unix"; Addr is "host:port" or the socket path.
	Network, Addr string
	// Username and Password, when Password is set, are sent with AUTH
	// (without a Username: the "default" user, Redis before 6).
	Username, Password string
	// DB is selected with SELECT when not 0.
	DB int
	// TLS, when not nil, wraps each TCP connection in TLS ("rediss://").
	TLS *tls.Config
	// DialTimeout bounds a connection's set-up (dial, TLS, AUTH, SELECT);
	// 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// CommandTimeout bounds each command, unless the context's deadline
	// comes first; 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// PoolSize bounds the open connections, which are also the commands
	// in flight; 0 means DefaultPoolSize.
	PoolSize int
}

// ParseURL reads the Redis URL forms
//
//	redis://[[user]:password@]host[:port][/db]
//	rediss://[[user]:password@]host[:port][/db]   (TLS, the system CA pool)
//	unix://[[user]:password@]/path/to/socket[?db=N]
//
// The port defaults to 6379; the only query parameter is db. Errors never
// quote the password.
func ParseURL(s string) (Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Options{}, errors.New("redisresp: invalid URL") // url's error has the whole URL
	}
	var o Options
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	db := ""
	q := u.Query()
	for k := range q {
		if k != "db" {
			return Options{}, fmt.Errorf("redisresp: unknown URL parameter %s", escape.Quote(k))
		}
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" || u.Opaque != "" {
			return Options{}, errors.New("redisresp: URL without host")
		}
		o.Network, o.Addr = "tcp", u.Host
		if u.Port() == "" {
			o.Addr = net.JoinHostPort(u.Hostname(), "6379")
		}
		if u.Scheme == "rediss" {
			o.TLS = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		}
		if p := u.Path; p != "" && p != "/" {
			db = p[1:]
		}
		if q.Has("db") {
			return Options{}, errors.New("redisresp: a redis:// URL has its db in the path")
		}
	case "unix":
		if u.Path == "" || u.Host != "" {
			return Options{}, errors.New("redisresp: a unix:// URL needs a socket path and no host")
		}
		o.Network, o.Addr = "unix", u.Path
		db = q.Get("db")
	default:
		return Options{}, fmt.Errorf("redisresp: URL scheme %s is not redis, rediss or unix", escape.Quote(u.Scheme))
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || n > maxDB {
			return Options{}, fmt.Errorf("redisresp: database %s is not a number from 0 to %d", escape.Quote(db), maxDB)
		}
		o.DB = n
	}
	return o, nil
}

// withDefaults returns o with its zero durations and size set.
func (o Options) withDefaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	return o
}
