package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/internal/redistest"
)

// shared is the redis-server TestMain starts for the tests that need no
// server of their own; each test uses its own key prefix.
var shared *redistest.Server

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	// The outage test makes go-redis log every refused dial; the tests
	// check the errors the stores return instead.
	redis.SetLogger(quietLogger{})
	os.Exit(redistest.Main(m, &shared))
}

// client returns a client of the server at addr, closed when the test
// ends.
func client(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 5 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// prefixes numbers the prefixes given out, so that a test run again in
// the same process (-count) starts afresh.
var prefixes atomic.Int64

// prefix is a key prefix of the test's own on the shared server.
func prefix(t testing.TB) string {
	return strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

// discard is a logger for what a test does not look at.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// quietLogger drops go-redis's own log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
