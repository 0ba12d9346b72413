package tlsrpt_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// The daily job of an MTA: an Outbox with the MTA's Collector makes the
// reports of each finished UTC day, stores them in a directory, and
// delivers them, retrying across restarts. Here the clock is fixed and
// the first attempt is not delayed; in production leave Now and
// StartWindow zero and call Run in a goroutine.
func ExampleOutbox() {
	received := make(chan string, 1)
	srv := httptest.NewTLSServer(&tlsrpt.Handler{Report: func(ctx context.Context, r *tlsrpt.Report) error {
		received <- r.ReportID
		return nil
	}})
	defer srv.Close()
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	now := time.Date(2024, 9, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &tlsrpt.Collector{OrganizationName: "Sender Mail", ContactInfo: "tlsrpt@sender.example", Now: clock}
	c.Counter(tlsrpt.AppliedPolicy{Type: tlsrpt.PolicyNotFound, Domain: "example.com"}).Success()

	o := &tlsrpt.Outbox{
		Store:     tlsrpt.DirOutbox(dir),
		Sender:    &tlsrpt.Sender{From: "tlsrpt@sender.example", HTTPClient: srv.Client()},
		Collector: c,
		// The record would come from DNS (nil Resolver: the system's).
		Resolver:    zone{"_smtp._tls.example.com.": {"v=TLSRPTv1; rua=" + srv.URL + "/tlsrpt"}},
		StartWindow: -1,
		Now:         clock,
	}
	now = time.Date(2024, 9, 4, 1, 0, 0, 0, time.UTC) // the next day
	next, err := o.RunOnce(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("received:", <-received)
	fmt.Println("next run:", next)
	entries, err := o.Entries(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		for _, d := range e.Deliveries {
			fmt.Println(e.ReportID, strings.TrimPrefix(d.URI, srv.URL), d.State, d.Attempts)
		}
	}
	// Output:
	// received: 2024-09-03.example.com@sender.example
	// next run: 2024-09-05 00:15:00 +0000 UTC
	// 2024-09-03.example.com@sender.example /tlsrpt delivered 1
}

// Report emails DKIM-signed with an Ed25519 key (RSA keys work the same),
// and the key record to publish in DNS.
func ExampleDKIMSigner() {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize) // use a secret key
	signer := &tlsrpt.DKIMSigner{Domain: "sender.example", Selector: "tlsrpt", Key: ed25519.NewKeyFromSeed(seed)}
	record, err := signer.KeyRecord(false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("tlsrpt._domainkey.sender.example. TXT %q\n", record)

	s := &tlsrpt.Sender{From: "tlsrpt@sender.example", DKIM: signer}
	m, err := s.Message(context.Background(), dayReport(), []string{"tlsrpt@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		log.Fatal(err)
	}
	for f := range strings.SplitSeq(msg.Header.Get("DKIM-Signature"), ";") {
		if k, v, _ := strings.Cut(strings.TrimSpace(f), "="); k == "a" || k == "c" || k == "d" || k == "s" || k == "h" {
			fmt.Printf("%s=%s\n", k, strings.Join(strings.Fields(v), ""))
		}
	}
	// Output:
	// tlsrpt._domainkey.sender.example. TXT "v=DKIM1; k=ed25519; p=6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="
	// a=ed25519-sha256
	// c=relaxed/relaxed
	// d=sender.example
	// h=From:From:To:Subject:Subject:Date:Message-ID:TLS-Report-Domain:TLS-Report-Domain:TLS-Report-Submitter:TLS-Report-Submitter:TLS-Required:MIME-Version:Content-Type
	// s=tlsrpt
}

// An MTA's sending session does not count the sessions that deliver
// report emails (RFC 8460 §5.3.1).
func ExampleIsReportMessage() {
	m, err := (&tlsrpt.Sender{From: "tlsrpt@sender.example"}).Message(context.Background(), dayReport(), []string{"tlsrpt@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		log.Fatal(err)
	}
	record := !tlsrpt.IsReportMessage(textproto.MIMEHeader(msg.Header))
	fmt.Println("record this session for TLS-RPT:", record)
	// Output:
	// record this session for TLS-RPT: false
}
