package tlsrpt

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The environment of a crashChild: a test binary started with
// crashChildEnv set runs one Outbox instead of the tests.
const (
	crashChildEnv = "TLSRPT_OUTBOX_CRASH_CHILD" // the outbox directory
	crashDNSEnv   = "TLSRPT_OUTBOX_CRASH_DNS"
	crashSMTPEnv  = "TLSRPT_OUTBOX_CRASH_SMTP"
	crashCAEnv    = "TLSRPT_OUTBOX_CRASH_CA"
	crashKeyEnv   = "TLSRPT_OUTBOX_CRASH_KEY"
	crashNowEnv   = "TLSRPT_OUTBOX_CRASH_NOW"
	crashAddEnv   = "TLSRPT_OUTBOX_CRASH_ENQUEUE"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		if err := crashChild(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashReport is the report the crash test delivers.
func crashReport() (*Report, error) {
	now := day1.Add(time.Hour)
	c := &Collector{OrganizationName: "Example Sender", ContactInfo: "mailto:tlsrpt@sender.example",
		Now: func() time.Time { return now }, Logger: discardLogger()}
	c.Counter(stsPolicy("example.com")).Success()
	c.Counter(stsPolicy("example.com")).Failure(expiredAt("198.51.100.7"))
	now = day2
	reps, err := c.Reports(context.Background(), day1)
	if err != nil {
		return nil, err
	}
	return reps[0], nil
}

// crashChild runs an Outbox with the clock fixed at crashNowEnv, enqueueing
// the crash report first if crashAddEnv is set. Whenever Run waits it
// prints "waiting <duration>" and waits for ever: the parent kills it.
func crashChild() error {
	pem, err := os.ReadFile(os.Getenv(crashCAEnv))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no CA certificate in %s", os.Getenv(crashCAEnv))
	}
	seed, err := hex.DecodeString(os.Getenv(crashKeyEnv))
	if err != nil || len(seed) != ed25519.SeedSize {
		return fmt.Errorf("bad key seed: %v", err)
	}
	now, err := time.Parse(time.RFC3339, os.Getenv(crashNowEnv))
	if err != nil {
		return err
	}
	relay := &SMTPRelay{Addr: os.Getenv(crashSMTPEnv), TLSConfig: &tls.Config{RootCAs: pool}, EHLOName: "mta1.sender.example"}
	o := &Outbox{
		Store: DirOutbox(os.Getenv(crashChildEnv)),
		Sender: &Sender{
			From:       "tlsrpt@sender.example",
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute},
			Mail:       relay.Send,
			DKIM:       &DKIMSigner{Domain: "sender.example", Selector: "tlsrpt", Key: ed25519.NewKeyFromSeed(seed)},
			Logger:     discardLogger(),
		},
		Resolver:    (&dnsServer{addr: os.Getenv(crashDNSEnv)}).resolver(),
		StartWindow: -1,
		Now:         func() time.Time { return now },
		Logger:      discardLogger(),
		Wait: func(ctx context.Context, d time.Duration) error {
			fmt.Printf("waiting %v\n", d)
			<-ctx.Done()
			return ctx.Err()
		},
	}
	ctx := context.Background()
	if os.Getenv(crashAddEnv) != "" {
		r, err := crashReport()
		if err != nil {
			return err
		}
		if err := o.Enqueue(ctx, r); err != nil {
			return err
		}
	}
	return o.Run(ctx)
}

// TestOutboxCrash: a real process running an Outbox is killed (SIGKILL)
// whenever it waits in its retry schedule, and started again with its
// clock moved on. The report reaches the HTTPS receiver and the SMTP
// listener exactly once, after the attempts its schedule says: none
// before its time, none after it was accepted.
func TestOutboxCrash(t *testing.T) {
	w := newReportWorld(t)
	w.failPOST.Store(2)
	w.failRCPT.Store(2)
	dir := t.TempDir()
	caFile := w.writeCA(t, t.TempDir())
	rep, err := crashReport()
	if err != nil {
		t.Fatal(err)
	}
	t0 := day2.Add(time.Hour)
	for _, step := range []struct {
		at           time.Duration // on the clock of the process, from t0
		wait         string        // what it then waits for
		posts, rcpts int32         // attempts so far
	}{
		{0, "1m0s", 1, 1},                 // enqueued; the first attempts fail
		{30 * time.Second, "30s", 1, 1},   // restarted early: nothing is due
		{time.Minute, "2m0s", 2, 2},       // the second attempts fail
		{3 * time.Minute, "1h0m0s", 3, 3}, // delivered
		{10 * time.Hour, "1h0m0s", 3, 3},  // nothing is sent again
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			crashChildEnv+"="+dir, crashDNSEnv+"="+w.dns.addr, crashSMTPEnv+"="+w.smtp.addr(), crashCAEnv+"="+caFile,
			crashKeyEnv+"="+hex.EncodeToString(w.key.Seed()), crashNowEnv+"="+t0.Add(step.at).Format(time.RFC3339))
		if step.at == 0 {
			cmd.Env = append(cmd.Env, crashAddEnv+"=1")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		cmd.Process.Kill() // SIGKILL: no defer, no cleanup runs
		cmd.Wait()
		if err != nil || strings.TrimSpace(line) != "waiting "+step.wait {
			t.Fatalf("at t0+%v the process said %q (%v), want waiting %s", step.at, line, err, step.wait)
		}
		if p, r := w.posts.Load(), w.rcpts.Load(); p != step.posts || r != step.rcpts {
			t.Fatalf("at t0+%v: %d POSTs, %d RCPTs; want %d, %d", step.at, p, r, step.posts, step.rcpts)
		}
	}
	if p, m := w.counts(rep.ReportID); p != 1 || m != 1 {
		t.Errorf("report accepted %d times by POST, mailed %d times; want 1, 1", p, m)
	}
	w.verifyDKIM(t, w.mailedRaw[0])
	o := w.outbox(dir, func() time.Time { return t0.Add(10 * time.Hour) })
	es, err := o.Entries(context.Background())
	if err != nil || len(es) != 1 || es[0].Finished.IsZero() {
		t.Fatalf("entries %+v, %v", es, err)
	}
	for _, d := range es[0].Deliveries {
		if d.State != DeliveryDone || d.Attempts != 3 {
			t.Errorf("delivery %+v", d)
		}
	}
}
