package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

// newWorld starts the demo's loopback world with example.com publishing
// policy, and returns it with the flags that point check at it.
func newWorld(t *testing.T, mode mtasts.Mode, mx ...string) (*world.World, []string) {
	t.Helper()
	w, err := world.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	p, err := mtasts.NewPolicy(mode, 30*24*time.Hour, mx...)
	if err != nil {
		t.Fatal(err)
	}
	w.Publish(p)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, w.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-dns", w.DNS.Addr, "-ca", ca, "-timeout", "5s"}
	for hostport, addr := range w.Routes() {
		args = append(args, "-connect", hostport+"="+addr)
	}
	return w, args
}

func runCheck(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), args, &stdout, &stderr); code != want {
		t.Fatalf("run = %d, want %d; stderr:\n%s\nstdout:\n%s", code, want, stderr.String(), stdout.String())
	}
	return stdout.String()
}

func assertContains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// TestDemoWorld inspects example.com as the demo leaves it: mx1 presents
// a certificate for another name, which is an error under enforce.
func TestDemoWorld(t *testing.T) {
	_, args := newWorld(t, mtasts.ModeEnforce, world.MX1, world.MX2)
	out := runCheck(t, 1, append(args, "example.com")...)
	t.Log("\n" + out)
	assertContains(t, out,
		"MTA-STS record _mta-sts.example.com\n  TXT \"v=STSv1; id=",
		"Policy https://mta-sts.example.com/.well-known/mta-sts.txt\n  version: STSv1\n  mode: enforce\n  mx: mx1.example.com\n  mx: mx2.example.com\n  max_age: 2592000\n  (the TXT id is the content id of this policy)\n",
		"   10 mx1.example.com  matches mx: mx1.example.com\n      STARTTLS: TLS 1.3; certificate for mx.other.example.net, valid until ",
		": NOT VALID (host mismatch)\n",
		"   20 mx2.example.com  matches mx: mx2.example.com\n      STARTTLS: TLS 1.3; certificate for mx2.example.com, valid until ",
		": valid for this host\n",
		"TLS-RPT record _smtp._tls.example.com\n  TXT \"v=TLSRPTv1; rua=https://tlsrpt.example.com/v1/tlsrpt,mailto:tlsrpt@example.com\"\n",
		"  error   cert-name-mismatch (mx1.example.com)\n",
		"\nFAIL: 1 error to fix\n",
	)
}

// TestFixedWorld removes the bad MX host: no error is left (the world's
// certificates expire within a week, which is a warning).
func TestFixedWorld(t *testing.T) {
	w, args := newWorld(t, mtasts.ModeTesting, world.MX2)
	w.DNS.SetMX(world.Domain, world.TTL, world.MX2)
	out := runCheck(t, 0, append(args, "-json", "example.com")...)

	var res struct {
		Domain string `json:"domain"`
		Policy string `json:"policy"`
		MX     []struct {
			Host        string `json:"host"`
			Covered     bool   `json:"covered"`
			STARTTLS    bool   `json:"starttls"`
			Certificate struct {
				Valid bool `json:"valid"`
			} `json:"certificate"`
		} `json:"mx"`
		Findings []struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
			Subject  string `json:"subject"`
			Fix      string `json:"fix"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("the output is not JSON: %v\n%s", err, out)
	}
	if res.Domain != "example.com" || !strings.Contains(res.Policy, "mode: testing") {
		t.Errorf("domain %q, policy %q", res.Domain, res.Policy)
	}
	if len(res.MX) != 1 || res.MX[0].Host != world.MX2 || !res.MX[0].Covered || !res.MX[0].STARTTLS || !res.MX[0].Certificate.Valid {
		t.Errorf("mx = %+v, want mx2.example.com covered with a valid certificate", res.MX)
	}
	for _, f := range res.Findings {
		if f.Severity != "warning" || f.Code != "cert-expiring" || f.Fix == "" {
			t.Errorf("finding %+v, want only the cert-expiring warning", f)
		}
	}
}

// TestPolicyHostDown: no policy can be fetched.
func TestPolicyHostDown(t *testing.T) {
	w, args := newWorld(t, mtasts.ModeEnforce, world.MX1, world.MX2)
	w.StopPolicyHost()
	out := runCheck(t, 1, append(args, "-no-starttls", "example.com")...)
	assertContains(t, out,
		"Policy https://mta-sts.example.com/.well-known/mta-sts.txt\n  (not fetched)\n",
		"      not probed\n",
		"  error   policy-unreachable (https://mta-sts.example.com/.well-known/mta-sts.txt)\n",
	)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"a.example", "b.example"},
		{"-connect", "nocolon", "a.example"},
		{"-ca", "nosuch.pem", "a.example"},
		{"-no-starttls", "-dns", "127.0.0.1:1", "-timeout", "100ms", "exa mple.com"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("run(%q): nothing on stderr", args)
		}
	}
}
