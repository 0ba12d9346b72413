package main

import (
	"bytes"
	"net/netip"
)

// keyKind says what a socketmap key is.
type keyKind uint8

const (
	// keyDomain is a domain to look up.
	keyDomain keyKind = iota
	// keyParent is Postfix's parent-domain retry (".example.com"): RFC
	// 8461 §3.4 applies a policy to its own domain only.
	keyParent
	// keyIP is an address literal ("[192.0.2.1]", "[ipv6:2001:db8::1]"):
	// MTA-STS names hosts, never addresses.
	keyIP
	// keyInvalid is anything else that cannot be a domain: an empty key,
	// a bad port, unbalanced brackets.
	keyInvalid
)

// nextHopDomain turns the key Postfix looks up, its next-hop destination,
// into the domain to look up: "[host]:port", "[host]" and "host:port" are
// stripped to host, ASCII upper case is lowered and one trailing dot
// removed. It works in place on key and returns a slice of it. The
// domain's syntax is left to policycache.Cache.Lookup, which also accepts
// U-labels.
func nextHopDomain(key []byte) ([]byte, keyKind) {
	host := key
	if len(host) > 0 && host[0] == '[' {
		end := bytes.IndexByte(host, ']')
		if end < 0 || !portSuffix(host[end+1:]) {
			return nil, keyInvalid
		}
		host = host[1:end]
	} else if i := bytes.IndexByte(host, ':'); i >= 0 {
		if bytes.IndexByte(host[i+1:], ':') >= 0 {
			// More than one colon: a bare IPv6 address.
			return nil, keyIP
		}
		if !portSuffix(host[i:]) {
			return nil, keyInvalid
		}
		host = host[:i]
	}
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(host) == 0 {
		return nil, keyInvalid
	}
	if host[0] == '.' {
		return nil, keyParent
	}
	if isAddress(host) {
		return nil, keyIP
	}
	for i, c := range host {
		if 'A' <= c && c <= 'Z' {
			host[i] = c + ('a' - 'A')
		}
	}
	return host, keyDomain
}

// portSuffix reports whether s is empty or ":" and 1 to 5 digits.
func portSuffix(s []byte) bool {
	if len(s) == 0 {
		return true
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isAddress reports whether host is an IP address, or an RFC 5321 address
// literal's content ("ipv6:..." and other tagged forms).
func isAddress(host []byte) bool {
	if bytes.IndexByte(host, ':') >= 0 {
		return true // "ipv6:2001:db8::1" or another tagged literal
	}
	if c := host[len(host)-1]; c < '0' || c > '9' {
		return false // a domain's last label is never all digits
	}
	_, err := netip.ParseAddr(string(host))
	return err == nil
}
