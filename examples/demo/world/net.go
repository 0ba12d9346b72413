package world

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Network connects the world's clients to its servers. Host names are
// resolved through the world's DNS server (their A records say
// 127.0.0.1); the port each service listens on is random, so Network
// keeps a table from the well-known "host:port" (mx1.example.com:25,
// mta-sts.example.com:443) to the real loopback port.
type Network struct {
	// Resolver asks the world's DNS server, for any record type.
	Resolver *net.Resolver

	mu    sync.Mutex
	ports map[string]string // "host:port" -> real port
}

// NewNetwork returns a Network resolving names with the DNS server at
// dnsAddr.
func NewNetwork(dnsAddr string) *Network {
	var d net.Dialer
	return &Network{
		Resolver: &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, dnsAddr)
			},
		},
		ports: map[string]string{},
	}
}

// Route makes connections to hostport ("mx1.example.com:25") go to the
// port of the loopback address addr.
func (n *Network) Route(hostport, addr string) {
	_, port, _ := net.SplitHostPort(addr)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ports[hostport] = port
}

// DialContext connects to addr ("host:port") like net.Dialer.DialContext,
// with the host's address from the world's DNS and the port from the
// routing table. It fits http.Transport.DialContext.
func (n *Network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	// A name from an MX record may be fully qualified (a trailing dot).
	host = strings.TrimSuffix(host, ".")
	n.mu.Lock()
	port, ok := n.ports[net.JoinHostPort(host, port)]
	n.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no service at %s in the demo world", addr)}
	}
	ips, err := n.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, network, net.JoinHostPort(ips[0], port))
}
