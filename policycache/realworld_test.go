package policycache_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Policy files in the shapes real policy hosts serve (testdata/README.md),
// fetched through the cache, stored in a DirStore and read back after a
// restart. Senders parse strictly: what the grammar rejects is
// sts-policy-invalid and no policy.
func TestRealWorldPolicies(t *testing.T) {
	tests := []struct {
		file    string
		mode    mtasts.Mode // "" when invalid
		maxAge  time.Duration
		lines   []string // TLS-RPT policy-string
		allowed []string
		denied  []string
	}{
		{
			file: "large-provider-lf.txt", mode: mtasts.ModeEnforce, maxAge: 86400 * time.Second,
			lines:   []string{"version: STSv1", "mode: enforce", "mx: gmail-smtp-in.l.google.com", "mx: *.gmail-smtp-in.l.google.com", "max_age: 86400"},
			allowed: []string{"gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com."},
			denied:  []string{"l.google.com"},
		},
		{
			file: "hosted-wildcard-crlf.txt", mode: mtasts.ModeEnforce, maxAge: 604800 * time.Second,
			lines:   []string{"version: STSv1", "mode: enforce", "mx: *.mail.protection.outlook.com", "max_age: 604800"},
			allowed: []string{"example-com.mail.protection.outlook.com"},
			denied:  []string{"mail.protection.outlook.com"},
		},
		{
			file: "mixed-endings-no-final-newline.txt", mode: mtasts.ModeEnforce, maxAge: 604800 * time.Second,
			lines:   []string{"version: STSv1", "mode: enforce", "mx: mail.example.com", "mx: *.backup.example.com", "max_age: 604800"},
			allowed: []string{"mail.example.com", "b1.backup.example.com"},
		},
		{
			file: "mode-none-no-mx.txt", mode: mtasts.ModeNone, maxAge: 86400 * time.Second,
			allowed: []string{"anything.example"},
		},
		{
			file: "max-age-over-limit.txt", mode: mtasts.ModeEnforce, maxAge: mtasts.MaxMaxAge,
			lines: []string{"version: STSv1", "mode: enforce", "mx: mail.example.com", "max_age: 31557600"},
		},
		{
			file: "shallow-wildcard.txt", mode: mtasts.ModeEnforce, maxAge: 604800 * time.Second,
			lines:   []string{"version: STSv1", "mode: enforce", "mx: *.mx.microsoft", "max_age: 604800"},
			allowed: []string{"tenant.mx.microsoft"},
			denied:  []string{"tenant.h-v1.mx.microsoft"},
		},
		{file: "trailing-blank-line.txt"},
		{file: "bom.txt"},
		{file: "typo-nmx-no-mx.txt"},
		{file: "ip-as-mx.txt"},
		{file: "trailing-dot-mx.txt"},
	}
	w := newWorld(t)
	cfg := w.Config()
	cfg.Store = policycache.DirStore(t.TempDir())
	first := w.Cache(t, cfg)
	for i, tt := range tests {
		body, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		domain := strings.TrimSuffix(tt.file, ".txt") + ".example"
		w.Publish(domain, "v"+string(rune('a'+i)), string(body))
		res := lookup(t, first, domain)
		if tt.mode == "" {
			if res.Policy != nil || res.Failure != tlsrpt.ResultSTSPolicyInvalid {
				t.Errorf("%s: policy %v, failure %q; want no policy and sts-policy-invalid", tt.file, res.Policy, res.Failure)
			}
			continue
		}
		if res.Policy == nil || res.Policy.Mode != tt.mode || res.Policy.MaxAge != tt.maxAge {
			t.Errorf("%s: policy %+v (err %v), want mode %s max_age %v", tt.file, res.Policy, res.Err, tt.mode, tt.maxAge)
			continue
		}
		if tt.mode != mtasts.ModeNone && !reflect.DeepEqual(res.AppliedPolicy.PolicyString, tt.lines) {
			t.Errorf("%s: policy-string %q\nwant %q", tt.file, res.AppliedPolicy.PolicyString, tt.lines)
		}
		for _, mx := range tt.allowed {
			if !res.AllowsMX(mx) {
				t.Errorf("%s: %s not allowed", tt.file, mx)
			}
		}
		for _, mx := range tt.denied {
			if res.AllowsMX(mx) {
				t.Errorf("%s: %s allowed", tt.file, mx)
			}
		}
	}
	first.Close()

	// After a restart, the stored policies are the same policies.
	second := w.Cache(t, cfg)
	for i, tt := range tests {
		if tt.mode == "" {
			continue
		}
		domain := strings.TrimSuffix(tt.file, ".txt") + ".example"
		res := lookup(t, second, domain)
		if !res.FromCache || res.ID != "v"+string(rune('a'+i)) || res.Policy == nil || res.Policy.Mode != tt.mode || res.Policy.MaxAge != tt.maxAge {
			t.Errorf("%s after restart: %+v", tt.file, summarize(res))
		}
	}
	if w.Logs.Count("corrupt") != 0 {
		t.Errorf("stored entries reported corrupt:\n%s", w.Logs)
	}
}
