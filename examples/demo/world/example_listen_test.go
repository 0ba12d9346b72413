package world_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
)

// One HTTPS server for two policy hosts, each with its own certificate
// chosen by SNI; DNS and an MX host on loopback addresses given by the
// caller (port 0 here; a private network namespace can use 53 and 25).
func ExampleServeHTTPSCerts() {
	ca, err := world.NewCA(time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	var certs []tls.Certificate
	for _, name := range []string{"mta-sts.a.example", "mta-sts.b.example"} {
		cert, err := ca.Issue(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		certs = append(certs, cert)
	}
	srv, err := world.ServeHTTPSCerts(http.NotFoundHandler(), certs...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	for _, name := range []string{"mta-sts.a.example", "mta-sts.b.example"} {
		c, err := tls.Dial("tcp", srv.Addr, &tls.Config{ServerName: name, RootCAs: ca.Pool})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, "presents", c.ConnectionState().PeerCertificates[0].DNSNames[0])
		c.Close()
	}

	dns, err := world.ListenDNSAt("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dns.Close()
	mx, err := world.ListenSMTPAt("127.0.0.1:0", "mx.a.example", certs[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mx.Close()
	fmt.Println("MX", mx.Name, "listening:", mx.Addr != "")
	// Output:
	// mta-sts.a.example presents mta-sts.a.example
	// mta-sts.b.example presents mta-sts.b.example
	// MX mx.a.example listening: true
}
