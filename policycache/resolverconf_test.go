package policycache

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDNSResolverReadsResolvConf(t *testing.T) {
	file := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions timeout:3 attempts:4\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	r := &DNSResolver{ConfigFile: file}
	servers, timeout, attempts, err := r.config()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}
	if !reflect.DeepEqual(servers, want) || timeout != 3*time.Second || attempts != 4 {
		t.Errorf("config() = %q, %v, %d; want %q, 3s, 4", servers, timeout, attempts, want)
	}

	// Explicit settings win over the file.
	r = &DNSResolver{ConfigFile: file, Timeout: time.Second, Attempts: 1}
	if _, timeout, attempts, _ := r.config(); timeout != time.Second || attempts != 1 {
		t.Errorf("explicit settings: %v, %d; want 1s, 1", timeout, attempts)
	}

	// Given servers: the file is not read; bare addresses get port 53.
	r = &DNSResolver{Servers: []string{"198.51.100.1", "[2001:db8::1]", "127.0.0.1:5353"}, ConfigFile: "/nonexistent"}
	servers, timeout, attempts, err = r.config()
	want = []string{"198.51.100.1:53", "[2001:db8::1]:53", "127.0.0.1:5353"}
	if err != nil || !reflect.DeepEqual(servers, want) || timeout != defaultDNSTimeout || attempts != defaultDNSAttempts {
		t.Errorf("config() = %q, %v, %d, %v; want %q and the defaults", servers, timeout, attempts, err, want)
	}
}

func TestDNSResolverResolvConfProblems(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(empty, []byte("search example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"/nonexistent/resolv.conf", empty} {
		r := &DNSResolver{ConfigFile: file}
		if _, _, _, err := r.config(); err == nil {
			t.Errorf("%s: no error", file)
		}
	}
}
