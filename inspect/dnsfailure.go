package inspect

import (
	"context"
	"errors"
	"net"
	"strings"
)

// dnsFailure says whose fault a failed lookup is: the findings of the
// domain must not blame its owner for the inspector's own resolver.
type dnsFailure int

const (
	dnsOK dnsFailure = iota
	// dnsNotFound: the name, or a record of the type, does not exist
	// (NXDOMAIN or NODATA).
	dnsNotFound
	// dnsNoSuchName: NXDOMAIN itself, from a resolver that tells it from
	// NODATA (see classifyDNS).
	dnsNoSuchName
	// dnsResolverDown: the resolver did not answer (timeout, connection
	// refused, unreachable): nothing is known of the domain.
	dnsResolverDown
	// dnsDomainFailed: the resolver answered with a failure (SERVFAIL,
	// REFUSED, a malformed reply): the domain's name servers fail it,
	// and senders, which ask resolvers like it, fail too.
	dnsDomainFailed
)

// classifyDNS tells what a lookup error means, and names the resolver
// that was asked when the error does. exactNX reports whether the
// resolver tells NXDOMAIN ("no such host") from NODATA, as
// policycache.DNSResolver does; *net.Resolver says "no such host" for
// both.
func classifyDNS(err error, exactNX bool) (dnsFailure, string) {
	if err == nil {
		return dnsOK, ""
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		var ne net.Error
		if errors.As(err, &ne) {
			return dnsResolverDown, ""
		}
		return dnsDomainFailed, ""
	}
	switch {
	case de.IsNotFound && exactNX && de.Err == "no such host":
		return dnsNoSuchName, de.Server
	case de.IsNotFound:
		return dnsNotFound, de.Server
	case de.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return dnsResolverDown, de.Server
	}
	// A network error talking to the resolver (connection refused, no
	// route, a bad address) rather than a reply.
	var ne net.Error
	var oe *net.OpError
	if errors.As(de.UnwrapErr, &ne) || errors.As(de.UnwrapErr, &oe) || isNetworkText(de.Err) {
		return dnsResolverDown, de.Server
	}
	return dnsDomainFailed, de.Server
}

// isNetworkText reports whether a *net.DNSError's text is that of a
// network failure: package net keeps only the text of the underlying
// error ("read udp ...: connection refused", "dial udp: ...").
func isNetworkText(s string) bool {
	for _, p := range []string{"dial ", "read ", "write ", "connection refused", "network is unreachable", "no route to host", "missing port"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// resolverName is how a finding names the resolver asked.
func resolverName(server string) string {
	if server == "" {
		return "the resolver"
	}
	return "the resolver " + server
}
