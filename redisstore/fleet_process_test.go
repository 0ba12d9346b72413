package redisstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/smtpsec/smtpsec/redisstore"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// The environment of a child process: when childEnv is set, TestMain runs
// childMain instead of the tests.
const (
	childEnv     = "REDISSTORE_TEST_CHILD" // the child's name
	childAddr    = "REDISSTORE_TEST_ADDR"
	childPrefix  = "REDISSTORE_TEST_PREFIX"
	childJournal = "REDISSTORE_TEST_JOURNAL"
	childRounds  = "REDISSTORE_TEST_ROUNDS"
)

// fleetDay is the UTC day the child MTAs record sessions in.
var fleetDay = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// fleetDomains are the policy domains the children deliver to.
var fleetDomains = []string{"a.example", "b.example", "c.example"}

// journalLine is one line of a child's journal: a batch about to be sent
// with its counts per domain, or the acknowledgement of one.
type journalLine struct {
	Batch  string              `json:"batch,omitempty"`
	Counts map[string][2]int64 `json:"counts,omitempty"` // domain → successes, failures
	Ack    string              `json:"ack,omitempty"`
}

// journalStore is the BatchStore of a child: it writes each batch to the
// journal before handing it to Redis and its acknowledgement after, and
// prints "ack" for the parent.
type journalStore struct {
	*redisstore.ResultStore
	journal *os.File
}

func (s journalStore) AddBatch(ctx context.Context, id string, day time.Time, results []tlsrpt.PolicyResult) error {
	l := journalLine{Batch: id, Counts: map[string][2]int64{}}
	for _, r := range results {
		c := l.Counts[r.Policy.Domain]
		c[0] += r.Summary.TotalSuccessfulSessionCount
		c[1] += r.Summary.TotalFailureSessionCount
		l.Counts[r.Policy.Domain] = c
	}
	if err := s.write(l); err != nil {
		return err
	}
	if err := s.ResultStore.AddBatch(ctx, id, day, results); err != nil {
		return err
	}
	if err := s.write(journalLine{Ack: id}); err != nil {
		return err
	}
	fmt.Println("ack")
	return nil
}

func (s journalStore) write(l journalLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = s.journal.Write(append(b, '\n'))
	return err
}

// childMain is a sending MTA: for each round it records sessions for the
// fleet's domains and flushes, without pause.
func childMain() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, os.Getenv(childEnv)+":", err); return 1 }
	rounds, err := strconv.Atoi(os.Getenv(childRounds))
	if err != nil {
		return fail(err)
	}
	journal, err := os.OpenFile(os.Getenv(childJournal), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	defer journal.Close()
	rc := redis.NewClient(&redis.Options{Addr: os.Getenv(childAddr)})
	defer rc.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store := journalStore{redisstore.NewResultStore(rc, os.Getenv(childPrefix), 0, logger), journal}
	c := &tlsrpt.Collector{Store: store, Now: func() time.Time { return fleetDay.Add(12 * time.Hour) }, Logger: logger}
	ip := netip.MustParseAddr("192.0.2.1")
	for r := range rounds {
		for i, d := range fleetDomains {
			pc := c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicySTS, Domain: d, PolicyString: []string{"version: STSv1", "mode: enforce"}, MXHost: []string{"mx." + d}})
			for range r%4 + i + 1 {
				pc.Success()
			}
			pc.Failure(tlsrpt.FailureDetail{ResultType: tlsrpt.ResultCertificateExpired, SendingMTAIP: ip,
				ReceivingMXHostname: "mx." + d, ReceivingIP: netip.AddrFrom4([4]byte{198, 51, 100, byte(r % 7)})})
		}
		if err := c.Flush(context.Background()); err != nil {
			return fail(err)
		}
	}
	return 0
}

// child is a running child process.
type child struct {
	cmd  *exec.Cmd
	acks chan struct{} // one value per acknowledged batch
	done chan error
}

func startChild(t *testing.T, name, prefix, journal string, rounds int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childAddr+"="+shared.Addr, childPrefix+"="+prefix,
		childJournal+"="+journal, childRounds+"="+strconv.Itoa(rounds))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, acks: make(chan struct{}, rounds+1), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ack" {
				c.acks <- struct{}{}
			}
		}
		io.Copy(io.Discard, out)
		c.done <- cmd.Wait()
	}()
	return c
}

// Three MTA processes flush into one Redis; one is killed with SIGKILL in
// the middle of its flush loop and started again. The day's report for
// each domain holds exactly what the processes recorded and had
// acknowledged, plus the batch the killed process had sent when it died
// if, and only if, Redis had applied it (its id is in the day's batch
// set): nothing is lost and nothing is counted twice.
func TestFleetProcessesKilledMidFlush(t *testing.T) {
	pfx := prefix(t)
	dir := t.TempDir()
	journals := []string{dir + "/a", dir + "/b", dir + "/c"}
	const rounds = 40
	a := startChild(t, "mta-a", pfx, journals[0], rounds)
	b := startChild(t, "mta-b", pfx, journals[1], rounds)
	c := startChild(t, "mta-c", pfx, journals[2], rounds)
	for range 5 {
		<-b.acks
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-b.done; err == nil {
		t.Fatal("the killed MTA exited normally: it had finished before the kill")
	}
	b2 := startChild(t, "mta-b-restarted", pfx, journals[1], 10)
	for name, ch := range map[string]*child{"a": a, "c": c, "b restarted": b2} {
		if err := <-ch.done; err != nil {
			t.Fatalf("MTA %s: %v", name, err)
		}
	}

	rc := client(t, shared.Addr)
	want := map[string][2]int64{}
	unacked := 0
	for _, j := range journals {
		data, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		sent := map[string]map[string][2]int64{}
		acked := map[string]bool{}
		for line := range strings.Lines(string(data)) {
			var l journalLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("%s: %v", j, err)
			}
			if l.Batch != "" {
				sent[l.Batch] = l.Counts
			}
			if l.Ack != "" {
				acked[l.Ack] = true
			}
		}
		for id, counts := range sent {
			if !acked[id] {
				unacked++
				applied, err := rc.SIsMember(context.Background(), pfx+"tlsrpt:2026-05-01:batches", id).Result()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: batch %s sent, not acknowledged, applied by Redis: %v", j, id, applied)
				if !applied {
					continue
				}
			}
			for d, n := range counts {
				w := want[d]
				want[d] = [2]int64{w[0] + n[0], w[1] + n[1]}
			}
		}
	}
	if unacked > 1 {
		t.Errorf("%d batches never acknowledged; only the killed MTA's last one may be", unacked)
	}

	reports := dailyJob(t, rc, pfx)
	if len(reports) != len(fleetDomains) {
		t.Fatalf("%d reports, want one per domain (%d)", len(reports), len(fleetDomains))
	}
	for _, r := range reports {
		if len(r.Policies) != 1 {
			t.Fatalf("report of %s has %d policies", r.Policies[0].Policy.Domain, len(r.Policies))
		}
		p := r.Policies[0]
		got := [2]int64{p.Summary.TotalSuccessfulSessionCount, p.Summary.TotalFailureSessionCount}
		if got != want[p.Policy.Domain] {
			t.Errorf("%s: report has %v sessions (successes, failures), the MTAs recorded %v", p.Policy.Domain, got, want[p.Policy.Domain])
		}
		var details int64
		for _, d := range p.FailureDetails {
			details += d.FailedSessionCount
		}
		if details != got[1] {
			t.Errorf("%s: failure details count %d sessions, the summary %d", p.Policy.Domain, details, got[1])
		}
	}
}

// dailyJob is the reporting job of the day after fleetDay, run by an MTA
// that records nothing itself: it leads the day and makes the reports.
func dailyJob(t *testing.T, rc redis.UniversalClient, pfx string) []*tlsrpt.Report {
	t.Helper()
	ctx := context.Background()
	l, err := redisstore.NewDayLeader(rc, pfx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := l.Lead(ctx, fleetDay)
	if err != nil || !ok {
		t.Fatalf("Lead = %v, %v", ok, err)
	}
	c := &tlsrpt.Collector{OrganizationName: "Example Fleet", ContactInfo: "mailto:tlsrpt@fleet.example",
		Store: redisstore.NewResultStore(rc, pfx, 0, nil), Now: func() time.Time { return fleetDay.Add(30 * time.Hour) }}
	reports, err := c.Reports(ctx, fleetDay)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Done(ctx, fleetDay); err != nil {
		t.Fatal(err)
	}
	return reports
}
