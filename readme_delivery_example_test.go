package smtpsec_test

import (
	"context"
	"crypto"

	"github.com/smtpsec/smtpsec/tlsrpt"
)

// The sample of README.md's "Delivering reports", kept here so that it
// compiles; ExampleOutbox in package tlsrpt is the runnable version.
func Example_deliveringReports() {
	ctx := context.Background()
	var collector *tlsrpt.Collector // the MTA's, as in Example_mtaAuthor
	var dkimKey crypto.Signer       // an *rsa.PrivateKey, an ed25519.PrivateKey or an HSM's

	o := &tlsrpt.Outbox{
		Store:     tlsrpt.DirOutbox("/var/lib/mta/tlsrpt-outbox"),
		Collector: collector,
		Sender: &tlsrpt.Sender{
			From: "tlsrpt@sender.example",
			DKIM: &tlsrpt.DKIMSigner{Domain: "sender.example", Selector: "tlsrpt", Key: dkimKey},
			Mail: (&tlsrpt.SMTPRelay{Addr: "smtp.sender.example:587", EHLOName: "mta1.sender.example"}).Send,
		},
	}
	go o.Run(ctx) // wakes when something is due; restart-safe
}
