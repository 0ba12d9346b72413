package tlsrpt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Handler memory: 32 clients POST a 50 MiB report each (gzip of 51 KB, so
// the test sends little) at once to a real loopback Handler with the
// default limits. The server runs in a child process (this test binary,
// re-run), whose peak RSS the parent reads from the kernel.
//
// The bound: DefaultMaxConcurrent decodes at once, each allocating at
// most decodeBound (3 × 50 MiB + a few MiB for this report), and the Go
// runtime letting the heap grow to twice what is live between collections
// (GOGC=100), plus the binary and the runtime.
//
// Under the race detector (as CI runs it) decoding is about twenty times
// slower and the detector keeps shadow memory for the heap, so there the
// reports are 4 MiB, to finish in seconds, and the bound is doubled; the
// bound scales with the report size, and `go test ./tlsrpt` runs the 50
// MiB case.
const (
	concurrentClients = 32
	handlerChildEnv   = "TLSRPT_HANDLER_MEMORY_CHILD"
)

var concurrentReport = func() int {
	if raceEnabled {
		return 4 << 20
	}
	return 50 << 20
}()

func handlerRSSBound() int64 {
	perDecode := decodeBound(int64(concurrentReport), 2, 0)
	bound := 2*DefaultMaxConcurrent*perDecode + 64<<20
	if raceEnabled {
		bound *= 2
	}
	return bound
}

func TestHandlerConcurrentLargeReports(t *testing.T) {
	if os.Getenv(handlerChildEnv) == "1" {
		handlerMemoryChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHandlerConcurrentLargeReports$", "-test.v")
	cmd.Env = append(os.Environ(), handlerChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "accepted 32 of 32") {
		t.Fatalf("child did not report every request accepted:\n%s", out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage for the child")
	}
	peak := ru.Maxrss << 10 // KiB on Linux
	bound := handlerRSSBound()
	t.Logf("%d concurrent %d MiB reports: peak RSS %d MiB, bound %d MiB (race detector: %v)",
		concurrentClients, concurrentReport>>20, peak>>20, bound>>20, raceEnabled)
	if peak > bound {
		t.Errorf("peak RSS %d MiB, bound %d MiB", peak>>20, bound>>20)
	}
}

// handlerMemoryChild runs the server and the clients.
func handlerMemoryChild(t *testing.T) {
	head := hostileHead + hostilePolicy + `{"result-type":"validation-failure","sending-mta-ip":"192.0.2.1","failed-session-count":1}]}],"x-padding":"`
	tail := `"}`
	body, n := hostileGzip(t, head, repeat{"a", concurrentReport - len(head) - len(tail)}, tail)
	if n != int64(concurrentReport) {
		t.Fatalf("report of %d bytes", n)
	}
	var mu sync.Mutex
	accepted := 0
	h := &Handler{Report: func(ctx context.Context, r *Report) error {
		mu.Lock()
		accepted++
		mu.Unlock()
		return nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute, ReadTimeout: 5 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 1 << 16}
	go srv.Serve(ln)
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make([]int, concurrentClients)
	for i := range concurrentClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post("http://"+ln.Addr().String()+"/", MediaTypeGzip, bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	fmt.Printf("accepted %d of %d\n", accepted, concurrentClients)
}
