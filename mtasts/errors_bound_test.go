package mtasts

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorsQuoteAPrefix: errors about megabytes of network input quote a
// 64-byte prefix of it, escaped.
func TestErrorsQuoteAPrefix(t *testing.T) {
	long := strings.Repeat("\x01", 60000)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"policy field name", func() error {
			_, err := ParsePolicy([]byte("version: STSv1\n" + strings.Repeat("n", 60000) + "\n"))
			return err
		}()},
		{"policy mode", func() error {
			_, err := ParsePolicy([]byte("version: STSv1\nmode: " + long + "\nmx: a\nmax_age: 1\n"))
			return err
		}()},
		{"policy version", func() error {
			_, err := ParsePolicy([]byte("version: " + strings.Repeat("v", 60000) + "\n"))
			return err
		}()},
		{"mx pattern", func() error {
			_, err := ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: " + strings.Repeat("a", 60000) + "\nmax_age: 1\n"))
			return err
		}()},
		{"TXT field", func() error { _, err := ParseRecord("v=STSv1; " + strings.Repeat("f", 60000) + "=1"); return err }()},
		{"policy domain", func() error { _, err := NormalizeDomain(strings.Repeat("a", 60000) + ".example"); return err }()},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if l := len(tc.err.Error()); l > 600 {
			t.Errorf("%s: error of %d bytes: %.200s", tc.name, l, tc.err)
		}
		if strings.Contains(tc.err.Error(), "\x01") {
			t.Errorf("%s: raw control character in %q", tc.name, tc.err)
		}
		if !errors.Is(tc.err, ErrInvalidPolicy) && !errors.Is(tc.err, ErrInvalidRecord) && !errors.Is(tc.err, ErrInvalidDomain) {
			t.Errorf("%s: %v matches no sentinel", tc.name, tc.err)
		}
	}
}
