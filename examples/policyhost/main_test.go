package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// TestMain runs the program itself when the test binary is started as the
// policy host of TestReloadSIGHUP.
func TestMain(m *testing.M) {
	if os.Getenv("POLICYHOST_TEST_MAIN") == "1" {
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv("POLICYHOST_TEST_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

// TestPrint checks the plan printed for the sample configuration: the
// policies, the records, and their order.
func TestPrint(t *testing.T) {
	code, out, stderr := runQuick(t, "-config", sample, "-print")
	if code != 0 {
		t.Fatalf("run = %d, stderr:\n%s", code, stderr)
	}
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

// TestServeHTTPS fetches the policies from the running host the way a
// sender does, with mtasts.Fetch over HTTPS.
func TestServeHTTPS(t *testing.T) {
	certFile, keyFile, roots := certFiles(t, "mta-sts.example.com", "mta-sts.example.net", "mta-sts.example.org")
	r := start(t, nil, "-config", sample, "-addr", "127.0.0.1:0", "-cert", certFile, "-key", keyFile)
	client := clientTo(r.addr, roots, nil)
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
	r := start(t, nil, "-config", sample, "-addr", "127.0.0.1:0")
	resp, body := r.getHTTP("mta-sts.example.com")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := mtasts.ParsePolicy(body); err != nil || !strings.Contains(string(body), "mode: enforce") {
		t.Errorf("body %q: %v", body, err)
	}
}

// TestPlainHTTPSaysSo: serving without a certificate is never quiet.
func TestPlainHTTPSaysSo(t *testing.T) {
	r := start(t, nil, "-config", sample, "-addr", "127.0.0.1:0")
	// Logged before the server starts, so before start returns.
	if !strings.Contains(r.log.String(), `level=WARN msg="serving plain HTTP: senders fetch policies over HTTPS only`) {
		t.Errorf("no warning about plain HTTP:\n%s", r.log)
	}
	certFile, keyFile, _ := certFiles(t, "mta-sts.example.com", "mta-sts.example.net", "mta-sts.example.org")
	r = start(t, nil, "-config", sample, "-addr", "127.0.0.1:0", "-cert", certFile, "-key", keyFile)
	if strings.Contains(r.log.String(), "plain HTTP") {
		t.Errorf("the HTTPS host warns about plain HTTP:\n%s", r.log)
	}
}

// TestLocalhostIsLoopback: "-addr localhost:PORT" is a loopback address
// (RFC 6761 §6.3), served on 127.0.0.1, not refused as non-loopback.
func TestLocalhostIsLoopback(t *testing.T) {
	for _, addr := range []string{"localhost:0", "LocalHost.:0"} {
		r := start(t, nil, "-config", sample, "-addr", addr)
		if !strings.HasPrefix(r.addr, "127.0.0.1:") {
			t.Errorf("-addr %s: serving on %s", addr, r.addr)
		}
	}
}

// TestPlainHTTPOnlyOnLoopback: without a certificate the host refuses
// every address that is not loopback, in one line that says why.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8443", ":8443", "[::]:8443", "192.0.2.1:8443", "[2001:db8::1]:443"} {
		code, _, stderr := runQuick(t, "-config", sample, "-addr", addr)
		if code != 2 || !strings.Contains(stderr, "plain HTTP only on a loopback address") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("-addr %s: run = %d, stderr %q", addr, code, stderr)
		}
	}
}

// TestAddrPortOutOfRange: "-addr 127.0.0.1:99999" is blamed on its port,
// not on loopback.
func TestAddrPortOutOfRange(t *testing.T) {
	code, _, stderr := runQuick(t, "-config", sample, "-addr", "127.0.0.1:99999")
	want := "policyhost: -addr \"127.0.0.1:99999\": port \"99999\" is not a number from 0 to 65535\n"
	if code != 2 || stderr != want {
		t.Errorf("run = %d, stderr %q; want 2, %q", code, stderr, want)
	}
}

// TestCheckAddr covers the forms of a listening address.
func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		in, out  string
		loopback bool
		err      string
	}{
		{"127.0.0.1:8443", "127.0.0.1:8443", true, ""},
		{"127.1.2.3:80", "127.1.2.3:80", true, ""},
		{"[::1]:443", "[::1]:443", true, ""},
		{"localhost:443", "127.0.0.1:443", true, ""},
		{":443", ":443", false, ""},
		{"[::]:443", "[::]:443", false, ""},
		{"192.0.2.1:443", "192.0.2.1:443", false, ""},
		{"127.0.0.1:0443", "127.0.0.1:443", true, ""},
		{"127.0.0.1", "", false, "want host:port"},
		{"127.0.0.1:", "", false, `port "" is not a number`},
		{"127.0.0.1:https", "", false, `port "https" is not a number`},
		{"127.0.0.1:-1", "", false, `port "-1" is not a number`},
		{"127.0.0.1:65536", "", false, `port "65536" is not a number from 0 to 65535`},
		{"example.com:443", "", false, "the host must be an IP address, localhost or nothing"},
		{"\x1b[31m:1", "", false, `"\x1b[31m:1"`},
	} {
		out, loopback, err := checkAddr("-addr", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("checkAddr(%q) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || out != tc.out || loopback != tc.loopback {
			t.Errorf("checkAddr(%q) = %q, %v, %v; want %q, %v", tc.in, out, loopback, err, tc.out, tc.loopback)
		}
	}
}

// TestFlagErrorsOneLine: every bad use of the flags exits with status 2
// and one line naming the flag.
func TestFlagErrorsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"-config", sample, "-print=maybe"}, `invalid boolean value "maybe" for -print`},
		{[]string{"-config", sample, "-cert", "x.pem"}, "-cert and -key go together"},
		{[]string{"-config", sample, "-watch", "10ms"}, "-watch 10ms: at least 1s"},
		{[]string{"-config", sample, "-watch", "often"}, `invalid value "often" for flag -watch`},
		{[]string{"-config", sample, "-acme-email", "a@example.com"}, "-acme-email needs -acme-cache"},
		{[]string{"-config", sample, "-http-addr", ":80"}, "-http-addr needs -acme-cache"},
		{[]string{"-config", sample, "-acme-cache", "d", "-cert", "c", "-key", "k"}, "-acme-cache and -cert exclude each other"},
		{[]string{"-config", sample, "-acme-cache", "d", "-acme-directory", "http://ca.example/dir"}, "want an https:// URL"},
		{[]string{"-config", sample, "-acme-cache", "d", "-acme-email", "Host Master <h@example.com>"}, "want a bare address"},
		{[]string{"-config", sample, "-acme-cache", "d", "-http-addr", "0.0.0.0:80000"}, `-http-addr "0.0.0.0:80000": port "80000"`},
		{[]string{"-config", sample, "-addr", "mta-sts.example.com:443", "-acme-cache", "d"}, "the host must be an IP address"},
	} {
		code, stdout, stderr := runQuick(t, tc.args...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "policyhost: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestHelp prints the usage to stdout and exits with status 0.
func TestHelp(t *testing.T) {
	code, stdout, stderr := runQuick(t, "-h")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: policyhost") || !strings.Contains(stdout, "-acme-cache") {
		t.Errorf("run(-h) = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestMaxAgeRequired: a domain without "max_age" is an error, never a
// policy with max_age 0 that senders would not keep.
func TestMaxAgeRequired(t *testing.T) {
	file := writeFile(t, t.TempDir(), "c.json", `{"domains": [{"domain": "a.example", "mode": "enforce", "mx": ["mx.a.example"]}]}`)
	code, stdout, stderr := runQuick(t, "-config", file, "-print")
	if code != 1 || stdout != "" || !strings.Contains(stderr, `domains[0] ("a.example"): "max_age" is missing`) {
		t.Errorf("run = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestShortMaxAgeWarns: a max_age under a week in mode testing or enforce
// loads, with a warning; mode none, the way out, does not warn.
func TestShortMaxAgeWarns(t *testing.T) {
	file := writeFile(t, t.TempDir(), "c.json", `{"domains": [
		{"domain": "a.example", "mode": "enforce", "mx": ["mx.a.example"], "max_age": 3600},
		{"domain": "b.example", "mode": "none", "max_age": 0}]}`)
	code, _, stderr := runQuick(t, "-config", file, "-print")
	if code != 0 || !strings.Contains(stderr, "warning: "+file+`: domains[0] (a.example): max_age 3600 is shorter than a week`) || strings.Contains(stderr, "b.example") {
		t.Errorf("run = %d, stderr %q", code, stderr)
	}
}

// TestEmptyConfig: an empty file is named as such, not reported as "EOF";
// a cut-short or malformed one gets a line and column.
func TestEmptyConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, config, want string }{
		{"empty", "", "the file is empty"},
		{"blank", " \n\t\n", "the file is empty"},
		{"cut", `{"domains": [{"domain": "a.example"`, "the JSON ends early"},
		{"syntax", "{\n  \"domains\": [,]\n}", "line 2, column 15: invalid character ','"},
		{"type", "{\n  \"domains\": [{\"domain\": \"a.example\", \"max_age\": \"1w\"}]\n}", `line 2, column 53: domains.max_age is a JSON string, but must be a int64`},
		{"trailing", `{"domains": [{"domain": "a.example", "mode": "none", "max_age": 0}]} {}`, "line 1, column 70: data after the JSON object"},
	} {
		file := writeFile(t, dir, tc.name+".json", tc.config)
		code, _, stderr := runQuick(t, "-config", file, "-print")
		if code != 1 || !strings.Contains(stderr, file+": "+tc.want) || strings.Contains(stderr, ": EOF") {
			t.Errorf("%s: run = %d, stderr %q; want 1 and %q", tc.name, code, stderr, tc.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, config, want string }{
		{"mode", `{"domains": [{"domain": "a.example", "mode": "Enforce", "mx": ["mx.a.example"], "max_age": 86400}]}`, `domains[0] ("a.example")`},
		{"ip", `{"domains": [{"domain": "a.example", "mode": "enforce", "mx": ["192.0.2.1"], "max_age": 86400}]}`, `domains[0] ("a.example")`},
		{"nomx", `{"domains": [{"domain": "a.example", "mode": "testing", "max_age": 86400}]}`, `domains[0] ("a.example")`},
		{"maxage", `{"domains": [{"domain": "a.example", "mode": "none", "max_age": 99999999999}]}`, "max_age 99999999999"},
		{"twice", `{"domains": [{"domain": "a.example", "mode": "none", "max_age": 0}, {"domain": "A.example.", "mode": "none", "max_age": 0}]}`, "a.example appears twice"},
		{"mxtwice", `{"domains": [{"domain": "a.example", "mode": "testing", "mx": ["mx.a.example", "MX.a.example."], "max_age": 86400}]}`, `mx "MX.a.example." is listed twice (the first time as "mx.a.example")`},
		{"domain", `{"domains": [{"domain": "*.a.example", "mode": "none", "max_age": 0}]}`, "invalid domain name"},
		{"tlsrpt", `{"domains": [{"domain": "a.example", "mode": "none", "max_age": 0, "tlsrpt": "http://r.example/"}]}`, "no mailto: or https: destination"},
		{"unknown", `{"domains": [{"domain": "a.example", "mode": "none", "mx_hosts": []}]}`, "unknown field"},
		{"nodomains", `{}`, "no domains"},
	} {
		file := writeFile(t, dir, c.name+".json", c.config)
		code, _, stderr := runQuick(t, "-config", file, "-print")
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: run = %d, stderr %q; want 1 and %q", c.name, code, stderr, c.want)
		}
	}
}

// TestDefaultConfigNextToBinary: without -config the file next to the
// binary is read, whatever the working directory; without one there, the
// error names the path looked at. Never a path relative to a repository.
func TestDefaultConfigNextToBinary(t *testing.T) {
	bin := t.TempDir()
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bin, "policyhost.json", string(data))
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, executable: func() (string, error) { return filepath.Join(bin, "policyhost"), nil }}
	if code := run(t.Context(), []string{"-print"}, e); code != 0 || !strings.Contains(stdout.String(), "_mta-sts.example.com.") {
		t.Errorf("run = %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	empty := t.TempDir()
	e.executable = func() (string, error) { return filepath.Join(empty, "policyhost"), nil }
	want := "policyhost: -config not given and there is no policyhost.json next to the binary (" + filepath.Join(empty, "policyhost.json") + "); give -config file\n"
	if code := run(t.Context(), []string{"-print"}, e); code != 2 || stderr.String() != want {
		t.Errorf("no file next to the binary: run = %d, stderr %q, want %q", code, stderr.String(), want)
	}
}

func TestCertificateMustCoverAll(t *testing.T) {
	certFile, keyFile, _ := certFiles(t, "mta-sts.example.com")
	code, _, stderr := runQuick(t, "-config", sample, "-addr", "127.0.0.1:0", "-cert", certFile, "-key", keyFile)
	if code != 1 || !strings.Contains(stderr, "mta-sts.example.net") {
		t.Errorf("run = %d, stderr %q; want 1 naming mta-sts.example.net", code, stderr)
	}
}

// TestServerLimits: every server of the program has the timeouts and the
// header cap.
func TestServerLimits(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 16<<10 {
		t.Errorf("server limits: %+v", srv)
	}
}

// TestSystemdUnit: the flags of the sample unit are valid.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("policyhost.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=\S+ (.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no ExecStart line")
	}
	o, err := parseFlags(strings.Fields(string(m[1])), &env{})
	if err != nil {
		t.Fatalf("ExecStart flags: %v", err)
	}
	if o.acmeCache == "" || o.httpAddr != ":80" || o.addr != ":443" {
		t.Errorf("ExecStart: %+v", o)
	}
	// The unit in the package documentation is the same.
	doc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			want = append(want, "//")
		} else {
			want = append(want, "//\t"+l)
		}
	}
	if !strings.Contains(string(doc), strings.Join(want, "\n")) {
		t.Error("the unit in the package documentation differs from policyhost.service")
	}
}
