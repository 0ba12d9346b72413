package policycache_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/policycache"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// benchDelivery returns a Delivery of the benchmark policy (enforce) with
// a Collector, and a loopback connection for Record.
func benchDelivery(b *testing.B) (*policycache.Delivery, net.Conn) {
	res, err := benchCache(b).Lookup(ctx, "example.com")
	if err != nil {
		b.Fatal(err)
	}
	col := &tlsrpt.Collector{OrganizationName: "Example Mail", ContactInfo: "mailto:tlsrpt@example.net"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return policycache.NewDelivery(res, col, mtasts.VerifyOptions{}), conn
}

// BenchmarkSessionSuccess is the decision and record path of a session
// whose STARTTLS succeeded under an enforced policy: Session, Try, and
// Record with a prepared tls.ConnectionState, the handshake's certificate
// checks done (they are crypto/tls's work). Target: ≤ 150 ns/op, 0
// allocs/op.
func BenchmarkSessionSuccess(b *testing.B) {
	d, conn := benchDelivery(b)
	state := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	b.ReportAllocs()
	for b.Loop() {
		s := d.Session(benchMX)
		if !s.Try() {
			b.Fatal("not tried")
		}
		s.HandshakeVerified()
		if !s.Record(conn, state, nil) {
			b.Fatal("not delivered")
		}
	}
}

// BenchmarkSessionFailure records a failed STARTTLS (a detail already
// counted that day): the addresses are read from the connection.
func BenchmarkSessionFailure(b *testing.B) {
	d, conn := benchDelivery(b)
	b.ReportAllocs()
	for b.Loop() {
		s := d.Session(benchMX)
		if s.Record(conn, nil, tlsrpt.ErrSTARTTLSNotSupported) {
			b.Fatal("delivered without STARTTLS under enforce")
		}
	}
}

// BenchmarkSessionTLSConfig is the cost of the per-session tls.Config
// (with the §4.2 checks as VerifyConnection) that crypto/tls needs.
func BenchmarkSessionTLSConfig(b *testing.B) {
	d, _ := benchDelivery(b)
	b.ReportAllocs()
	for b.Loop() {
		s := d.Session(benchMX)
		if s.TLSConfig() == nil {
			b.Fatal("no config")
		}
	}
}
