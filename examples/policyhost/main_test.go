package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

const sample = "policyhost.json"

// TestPrint checks the plan printed for the sample configuration: the
// policies, the records, and their order.
func TestPrint(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-config", sample, "-print"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Log("\n" + out)

	// Step 1: the policies, as comments, in publishing order.
	policyURL := regexp.MustCompile(`(?m)^;   https://mta-sts\.([a-z.]+)/\.well-known/mta-sts\.txt \(id ([0-9a-f]{32})\):\n((?:;     .*\n)+)`)
	var order []string
	ids := map[string]string{}
	for _, m := range policyURL.FindAllStringSubmatch(out, -1) {
		text := strings.ReplaceAll(m[3], ";     ", "")
		p, err := mtasts.ParsePolicy([]byte(text))
		if err != nil {
			t.Fatalf("policy of %s: %v\n%s", m[1], err, text)
		}
		if id := mtasts.PolicyID(p); id != m[2] {
			t.Errorf("%s: printed id %s, the policy's is %s", m[1], m[2], id)
		}
		order = append(order, m[1]+" "+string(p.Mode))
		ids[m[1]] = m[2]
	}
	if got, want := strings.Join(order, ", "), "example.net testing, example.com enforce, example.org none"; got != want {
		t.Errorf("policies in order %q, want %q", got, want)
	}

	// Step 2: the records, after step 1, in the same order.
	step2 := strings.Index(out, "; Step 2")
	if step2 < 0 || step2 < strings.LastIndex(out, ";   https://") {
		t.Fatal("the records do not come after the policies")
	}
	record := regexp.MustCompile(`(?m)^(_mta-sts|_smtp\._tls)\.([a-z.]+)\. 3600 IN TXT "([^"]*)"$`)
	var records []string
	for _, m := range record.FindAllStringSubmatch(out[step2:], -1) {
		records = append(records, m[1]+"."+m[2])
		switch m[1] {
		case "_mta-sts":
			r, err := mtasts.ParseRecord(m[3])
			if err != nil {
				t.Errorf("%s: %v", m[0], err)
			} else if r.ID != ids[m[2]] {
				t.Errorf("%s: id %s, the policy's is %s", m[0], r.ID, ids[m[2]])
			}
		case "_smtp._tls":
			if _, err := tlsrpt.ParseRecord(m[3]); err != nil {
				t.Errorf("%s: %v", m[0], err)
			}
		}
	}
	want := "_smtp._tls.example.net _mta-sts.example.net _smtp._tls.example.com _mta-sts.example.com _mta-sts.example.org"
	if got := strings.Join(records, " "); got != want {
		t.Errorf("records in order %q, want %q", got, want)
	}
	for _, w := range []string{
		"_smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\"",
		"; example.com, mode enforce: senders refuse MX hosts that fail.",
		"; example.org, mode none: opting out (RFC 8461 §8.3).",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// started runs the policy host with args until the test ends and returns
// the address it serves on.
func started(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exit <- run(ctx, append([]string{"-config", sample, "-addr", "127.0.0.1:0"}, args...), pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("run = %d; stderr:\n%s", code, stderr.String())
		}
	})
	first, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	served := regexp.MustCompile(`^serving the policies of 3 domains on https?://(127\.0\.0\.1:\d+)/\.well-known/mta-sts\.txt `).FindStringSubmatch(first)
	if err != nil || served == nil {
		t.Fatalf("first line %q, %v", first, err)
	}
	return served[1]
}

// TestServeHTTPS fetches the policies from the running host the way a
// sender does, with mtasts.Fetch over HTTPS.
func TestServeHTTPS(t *testing.T) {
	certFile, keyFile, roots := certFiles(t, "mta-sts.example.com", "mta-sts.example.net", "mta-sts.example.org")
	addr := started(t, "-cert", certFile, "-key", keyFile)

	// Every mta-sts.<domain>:443 leads to the policy host.
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	for domain, want := range map[string]string{
		"example.net": "version: STSv1\r\nmode: testing\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n",
		"example.com": "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmax_age: 1209600\r\n",
		"EXAMPLE.org": "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n",
	} {
		p, err := mtasts.Fetch(t.Context(), client, domain)
		if err != nil {
			t.Errorf("Fetch(%s): %v", domain, err)
			continue
		}
		if got := p.String(); got != want {
			t.Errorf("Fetch(%s) = %q, want %q", domain, got, want)
		}
	}
	// A domain the host does not serve: 404. (Its certificate is not
	// valid for the name either, so ask with the Host header.)
	req, _ := http.NewRequest("GET", "https://mta-sts.example.net"+mtasts.PolicyPath, nil)
	req.Host = "mta-sts.example.edu"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("policy of an unknown domain: %s, want 404", resp.Status)
	}
}

// TestServeHTTP serves plain HTTP on loopback, as behind a reverse proxy.
func TestServeHTTP(t *testing.T) {
	addr := started(t)
	req, _ := http.NewRequest("GET", "http://"+addr+mtasts.PolicyPath, nil)
	req.Host = "mta-sts.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := mtasts.ParsePolicy(body); err != nil || !strings.Contains(string(body), "mode: enforce") {
		t.Errorf("body %q: %v", body, err)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, config, want string }{
		{"mode", `{"domains": [{"domain": "a.example", "mode": "Enforce", "mx": ["mx.a.example"], "max_age": 86400}]}`, "domains[0] (a.example)"},
		{"ip", `{"domains": [{"domain": "a.example", "mode": "enforce", "mx": ["192.0.2.1"], "max_age": 86400}]}`, "domains[0] (a.example)"},
		{"nomx", `{"domains": [{"domain": "a.example", "mode": "testing", "max_age": 86400}]}`, "domains[0] (a.example)"},
		{"maxage", `{"domains": [{"domain": "a.example", "mode": "none", "max_age": 99999999999}]}`, "max_age 99999999999"},
		{"twice", `{"domains": [{"domain": "a.example", "mode": "none"}, {"domain": "A.example.", "mode": "none"}]}`, "a.example appears twice"},
		{"domain", `{"domains": [{"domain": "*.a.example", "mode": "none"}]}`, "is not a domain name"},
		{"tlsrpt", `{"domains": [{"domain": "a.example", "mode": "none", "tlsrpt": "http://r.example/"}]}`, "no mailto: or https: destination"},
		{"unknown", `{"domains": [{"domain": "a.example", "mode": "none", "mx_hosts": []}]}`, "unknown field"},
		{"empty", `{}`, "no domains"},
	} {
		file := filepath.Join(dir, c.name+".json")
		if err := os.WriteFile(file, []byte(c.config), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"-config", file, "-print"}, &stdout, &stderr); code != 1 {
			t.Errorf("%s: run = %d, want 1", c.name, code)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: stderr %q lacks %q", c.name, stderr.String(), c.want)
		}
	}
}

func TestCertificateMustCoverAll(t *testing.T) {
	certFile, keyFile, _ := certFiles(t, "mta-sts.example.com")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-config", sample, "-addr", "127.0.0.1:0", "-cert", certFile, "-key", keyFile}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "mta-sts.example.net") {
		t.Errorf("run = %d, stderr %q; want 1 naming mta-sts.example.net", code, stderr.String())
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"extra"},
		{"-nosuchflag"},
		{"-config", sample, "-addr", "0.0.0.0:0"},
		{"-config", sample, "-cert", "x.pem"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-config", "nosuch.json"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "nosuch.json") {
		t.Errorf("missing config: run = %d, stderr %q", code, stderr.String())
	}
}

// certFiles writes a certificate for names, issued by a new CA, and its
// key to files, and returns their names and the CA's pool.
func certFiles(t *testing.T, names ...string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	ca, err := world.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssuePEM(names...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := errors.Join(os.WriteFile(certFile, certPEM, 0o600), os.WriteFile(keyFile, keyPEM, 0o600)); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca.Pool
}
