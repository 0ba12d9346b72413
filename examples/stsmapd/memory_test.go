package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMemory100k fills a daemon's cache with 100 000 enforce
// policies and reports the heap the daemon then holds (cache and store)
// and the process's RSS (target: RSS under 64 MiB), with the memory store
// and with a DirStore, in the default configuration: cache_memory_mib 16
// keeps the most recently used domains (about 14 000) ready for a lookup
// without allocation, the others compactly in the process (memory) or on
// disk (dir). Real TLS handshakes for 100 000 policy hosts would take
// minutes on a shared machine, so this one measurement uses a synthetic
// resolver (every name has "v=STSv1; id=1;") and an in-memory transport
// that answers each fetch with the policy and a certificate for its host,
// made on the spot and not kept: what the cache stores is the same as
// after real fetches. Each iteration is one full fill. MEMPROF=FILE writes
// a heap profile of the filled cache.
func BenchmarkMemory100k(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) { benchMemory(b, "memory") })
	b.Run("store=dir", func(b *testing.B) { benchMemory(b, "dir:"+b.TempDir()) })
}

func benchMemory(b *testing.B, store string) {
	const n = 100_000
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := rssBytes(b)
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := testConfig()
		cfg.LogLevel = "error"
		cfg.Store = store
		dm, err := newDaemon(cfg, deps{resolver: synthResolver{}, httpClient: &http.Client{Transport: newSynthTransport(b)}}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for i := range n {
			res, err := dm.cache.Lookup(ctx, "d"+strconv.Itoa(i)+".many.test")
			if err != nil || res.Policy == nil {
				b.Fatalf("lookup %d: %v %v", i, err, res.Err)
			}
		}
		debug.FreeOSMemory() // return the fill's garbage: what stays is the cache
		if p := os.Getenv("MEMPROF"); p != "" {
			f, _ := os.Create(p)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/policy")
		b.ReportMetric(float64(after.Sys)/(1<<20), "go-sys-MiB")
		b.ReportMetric(float64(rssBytes(b))/(1<<20), "rss-MiB")
		b.ReportMetric(float64(rss0)/(1<<20), "rss-before-MiB")
		b.ReportMetric(float64(dm.cache.Len()), "cached")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-inuse-MiB")
		b.ReportMetric(float64(after.StackInuse+after.MSpanInuse+after.GCSys)/(1<<20), "runtime-MiB")
		dm.cache.Close()
	}
}

// synthResolver answers every TXT lookup with one MTA-STS record.
type synthResolver struct{}

func (synthResolver) LookupTXT(context.Context, string) ([]string, error) {
	return []string{"v=STSv1; id=1;"}, nil
}

func (synthResolver) LookupTXTTTL(context.Context, string) ([]string, time.Duration, error) {
	return []string{"v=STSv1; id=1;"}, time.Hour, nil
}

// synthTransport answers a policy fetch for mta-sts.<domain> with an
// enforce policy for mx1.<domain>, as if over a TLS connection verified
// for that host.
type synthTransport struct {
	key  *ecdsa.PrivateKey
	ca   *x509.Certificate
	serv int64
}

func newSynthTransport(b *testing.B) *synthTransport {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &synthTransport{key: key, ca: ca}
}

func (t *synthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	t.serv++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(t.serv + 1), DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.ca, t.key.Public(), t.key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	domain := strings.TrimPrefix(host, "mta-sts.")
	body := "version: STSv1\r\nmode: enforce\r\nmx: mx1." + domain + "\r\nmx: *.mx." + domain + "\r\nmax_age: 604800\r\n"
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain"}},
		Body:    io.NopCloser(strings.NewReader(body)),
		Request: req,
		TLS:     &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, t.ca}}},
	}, nil
}

// rssBytes is the resident set size of the process (Linux).
func rssBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
