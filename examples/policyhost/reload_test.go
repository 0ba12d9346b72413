package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

// fetchResult is one fetch of a fetcher of TestReloadUnderLoad.
type fetchResult struct {
	fetcher int
	epoch   int64 // the test's epoch when the fetch began
	policy  string
	err     error
}

// TestReloadUnderLoad reloads a valid and then an invalid configuration
// while senders fetch without pause: no request fails, no connection is
// dropped, the valid one is served from the reload on and announced after
// that, the invalid one is refused whole and logged and the previous one
// keeps serving.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ca, err := world.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, roots := issueFiles(t, ca, dir, "mta-sts.a.example", "mta-sts.b.example", "mta-sts.c.example")
	configA := `{"domains": [
		{"domain": "a.example", "mode": "testing", "mx": ["mx.a.example"], "max_age": 604800},
		{"domain": "b.example", "mode": "testing", "mx": ["mx.b.example"], "max_age": 604800}]}`
	configB := `{"domains": [
		{"domain": "a.example", "mode": "enforce", "mx": ["mx.a.example"], "max_age": 1209600, "tlsrpt": "mailto:r@a.example"},
		{"domain": "c.example", "mode": "testing", "mx": ["mx.c.example"], "max_age": 604800}]}`
	configBad := `{"domains": [
		{"domain": "a.example", "mode": "none", "max_age": 0},
		{"domain": "c.example", "mode": "testing", "mx": ["mx.c.example"]}]}`
	config := writeFile(t, dir, "policyhost.json", configA)
	r := start(t, nil, "-config", config, "-addr", "127.0.0.1:0", "-cert", certFile, "-key", keyFile)

	const fetchers = 4
	var epoch atomic.Int64
	results := make(chan fetchResult, 1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials [fetchers]int
	for i := range fetchers {
		client := clientTo(r.addr, roots, &dials[i])
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := epoch.Load()
				p, err := mtasts.Fetch(t.Context(), client, "a.example")
				res := fetchResult{fetcher: i, epoch: e, err: err}
				if err == nil {
					res.policy = p.String()
				}
				select {
				case results <- res:
				case <-stop:
					return
				}
			}
		})
	}
	var failed []string
	// settle collects results until every fetcher has had two fetches
	// that began in the current epoch, and returns the policies seen in
	// it.
	settle := func() map[string]bool {
		cur := epoch.Load()
		count := make([]int, fetchers)
		seen := map[string]bool{}
		for done := 0; done < fetchers; {
			res := <-results
			if res.err != nil {
				failed = append(failed, res.err.Error())
			}
			if res.epoch != cur {
				continue
			}
			seen[res.policy] = true
			if count[res.fetcher]++; count[res.fetcher] == 2 {
				done++
			}
		}
		return seen
	}
	oldPolicy := "version: STSv1\r\nmode: testing\r\nmx: mx.a.example\r\nmax_age: 604800\r\n"
	newPolicy := "version: STSv1\r\nmode: enforce\r\nmx: mx.a.example\r\nmax_age: 1209600\r\n"
	if seen := settle(); len(seen) != 1 || !seen[oldPolicy] {
		t.Errorf("before the reload: policies %v", seen)
	}

	// A valid configuration: a changed, c added, b removed.
	writeFile(t, dir, "policyhost.json", configB)
	r.sendReload()
	r.waitFor(false, `^reloaded .*: 2 domains; 1 added, 1 changed, 1 removed$`)
	id := mtasts.PolicyID(mustPolicy(t, newPolicy))
	m := r.waitFor(false, `^a\.example: serving policy id ([0-9a-f]+) \(mode enforce\); publish now`)
	if m[1] != id {
		t.Errorf("announced id %s, want %s", m[1], id)
	}
	r.waitFor(false, `^_smtp\._tls\.a\.example\. 3600 IN TXT "v=TLSRPTv1; rua=mailto:r@a\.example"$`)
	r.waitFor(false, `^_mta-sts\.a\.example\. 3600 IN TXT "v=STSv1; id=`+id+`"$`)
	r.waitFor(false, `^c\.example: serving policy id [0-9a-f]+ \(mode testing\); with mta-sts\.c\.example pointing at this host`)
	r.waitFor(false, `^b\.example: no longer served; delete its records:$`)
	epoch.Add(1)
	if seen := settle(); len(seen) != 1 || !seen[newPolicy] {
		t.Errorf("after the reload: policies %v", seen)
	}
	if _, err := mtasts.Fetch(t.Context(), clientTo(r.addr, roots, nil), "c.example"); err != nil {
		t.Errorf("the added domain: %v", err)
	}
	if _, err := mtasts.Fetch(t.Context(), clientTo(r.addr, roots, nil), "b.example"); err == nil {
		t.Error("the removed domain is still served")
	}

	// An invalid one (c lacks max_age): refused whole, a stays enforce.
	writeFile(t, dir, "policyhost.json", configBad)
	r.sendReload()
	r.waitFor(true, `level=ERROR msg="reload refused; the previous configuration keeps serving" .*domains=2 .*max_age.* is missing`)
	epoch.Add(1)
	if seen := settle(); len(seen) != 1 || !seen[newPolicy] {
		t.Errorf("after the refused reload: policies %v", seen)
	}
	// The same for a certificate that no longer covers every domain.
	issueFiles(t, ca, dir, "mta-sts.a.example")
	writeFile(t, dir, "policyhost.json", configB)
	r.sendReload()
	r.waitFor(true, `level=ERROR msg="reload refused; .*mta-sts\.c\.example`)
	epoch.Add(1)
	settle()
	if _, err := mtasts.Fetch(t.Context(), clientTo(r.addr, roots, nil), "c.example"); err != nil {
		t.Errorf("the certificate refused with its configuration: %v", err)
	}

	close(stop)
	wg.Wait()
	for _, f := range failed {
		t.Errorf("a fetch failed: %s", f)
	}
	for i, n := range dials {
		if n != 1 {
			t.Errorf("fetcher %d connected %d times, want once: a connection was dropped", i, n)
		}
	}
}

func mustPolicy(t *testing.T, text string) *mtasts.Policy {
	t.Helper()
	p, err := mtasts.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReloadSIGHUP runs the program as its own process and reloads it
// with a real SIGHUP, as "systemctl reload" does.
func TestReloadSIGHUP(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "policyhost.json", policyConfig(map[string]string{"a.example": "mx.a.example"}))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "POLICYHOST_TEST_MAIN=1", "POLICYHOST_TEST_ARGS=-config "+config+" -addr 127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the policy host: %v; stderr:\n%s", err, stderr.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	next := func(pattern string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		for lines.Scan() {
			if re.MatchString(lines.Text()) {
				return
			}
		}
		t.Fatalf("no line matching %q; stderr:\n%s", pattern, stderr.String())
	}
	next(`^serving the policies of 1 domains on http://127\.0\.0\.1:\d+/`)
	writeFile(t, dir, "policyhost.json", policyConfig(map[string]string{"a.example": "mx.a.example", "b.example": "mx.b.example"}))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next(fmt.Sprintf(`^reloaded %s \(SIGHUP\): 2 domains; 1 added, 0 changed, 0 removed$`, regexp.QuoteMeta(config)))
	next(`^b\.example: serving policy id [0-9a-f]{32} \(mode testing\)`)
	go func() {
		for lines.Scan() {
		}
	}()
}

// TestReloadWatch: with -watch, a changed file is reloaded at the next
// tick, an unchanged one is not, and an invalid one is refused once. The
// file is replaced by renaming, as configuration tools do, since a tick
// may still be reading it when the test goes on. (A file caught
// half-written is refused, and read again at the next tick.)
func TestReloadWatch(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "policyhost.json", policyConfig(map[string]string{"a.example": "mx.a.example"}))
	r := start(t, nil, "-config", config, "-addr", "127.0.0.1:0", "-watch", "5s")

	r.tick() // unchanged: nothing
	replaceFile(t, config, policyConfig(map[string]string{"a.example": "mx2.a.example"}))
	r.tick()
	r.waitFor(false, `^reloaded .* \(changed on disk\): 1 domains; 0 added, 1 changed, 0 removed$`)
	r.tick() // unchanged again: the next reload seen is the SIGHUP's
	r.sendReload()
	if m := r.waitFor(false, `^reloaded .* \((.*)\): `); m[1] != "SIGHUP" {
		t.Errorf("a reload %q of an unchanged file", m[1])
	}

	replaceFile(t, config, `{"domains": [{"domain": "a.example", "mode": "testing"`)
	r.tick()
	r.waitFor(true, `level=ERROR msg="reload refused; .*cause="changed on disk".*the JSON ends early`)
	r.tick() // the same invalid content: not refused again
	os.Remove(config)
	r.tick()
	r.waitFor(true, `level=WARN msg="cannot read the configuration; still serving the previous one"`)
	r.tick() // still missing: said once
	replaceFile(t, config, policyConfig(map[string]string{"a.example": "mx3.a.example"}))
	r.tick()
	r.waitFor(false, `^reloaded .* \(changed on disk\): 1 domains; 0 added, 1 changed, 0 removed$`)
	// Each problem was logged once, however many ticks saw it.
	if n := strings.Count(r.log.String(), "reload refused"); n != 1 {
		t.Errorf("%d refusals logged, want 1:\n%s", n, r.log)
	}
	if n := strings.Count(r.log.String(), "cannot read the configuration"); n != 1 {
		t.Errorf("%d read failures logged, want 1:\n%s", n, r.log)
	}
	if _, body := r.getHTTP("mta-sts.a.example"); !strings.Contains(string(body), "mx: mx3.a.example") {
		t.Errorf("served %q", body)
	}
}

// replaceFile replaces the file name with data by renaming a new file
// into place.
func replaceFile(t *testing.T, name, data string) {
	t.Helper()
	tmp := writeFile(t, filepath.Dir(name), "."+filepath.Base(name)+".new", data)
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}
