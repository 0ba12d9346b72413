package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// query is the -query mode: it looks up one domain as a socketmap request
// of zone would, prints the reply Postfix would get, and why.
func query(ctx context.Context, cfg Config, zoneName, domain string, stdout, stderr io.Writer) int {
	dm, err := newDaemon(cfg, deps{}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "stsmapd:", err)
		return 1
	}
	defer dm.close()
	return dm.query(ctx, zoneName, domain, stdout, stderr)
}

// query looks up domain in zone zoneName and prints the reply and the
// reasons; the exit status is 0 for a policy, 1 for an error, 3 for
// NOTFOUND and 4 for TEMP.
func (dm *daemon) query(ctx context.Context, zoneName, domain string, stdout, stderr io.Writer) int {
	st := dm.srv.settings.Load()
	z := st.zones[zoneName]
	if z == nil {
		fmt.Fprintf(stderr, "stsmapd: no zone %q\n", zoneName)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, st.requestTimeout)
	defer cancel()
	o, res := dm.srv.decideKey(ctx, z, []byte(domain), func(b []byte) string { return string(b) })
	reply := string(appendReply(nil, z, o, &res))
	fmt.Fprintf(stdout, "%s %s\n", zoneName, domain)
	fmt.Fprintf(stdout, "reply:      %q\n", reply)
	fmt.Fprintf(stdout, "decision:   %s\n", outcomeNames[o])
	if res.Domain != "" {
		fmt.Fprintf(stdout, "domain:     %s\n", res.Domain)
	}
	if p := res.Policy; p != nil {
		fmt.Fprintf(stdout, "policy:     mode %s, mx %s, max_age %v\n", p.Mode, strings.Join(p.MX, " "), p.MaxAge)
		fmt.Fprintf(stdout, "id:         %s\n", res.ID)
		fmt.Fprintf(stdout, "expires:    %s\n", res.Expires.UTC().Format(time.RFC3339))
	} else if o != outBadKey {
		fmt.Fprintln(stdout, "policy:     none")
	}
	if o != outBadKey {
		fmt.Fprintf(stdout, "fresh:      %t (the TXT record agreed when last asked)\n", res.Fresh)
	}
	if res.Failure != "" {
		fmt.Fprintf(stdout, "tls-rpt:    %s\n", res.Failure)
	}
	if res.Err != nil {
		fmt.Fprintf(stdout, "error:      %v\n", res.Err)
	}
	fmt.Fprintf(stdout, "reason:     %s\n", reasonText(o))
	switch {
	case strings.HasPrefix(reply, "OK "):
		return 0
	case strings.HasPrefix(reply, "TEMP "), strings.HasPrefix(reply, "TIMEOUT "):
		return 4
	}
	return 3
}

// reasonText explains a decision in a sentence.
func reasonText(o outcome) string {
	switch o {
	case outSecure:
		return "an MTA-STS policy is in force: Postfix requires TLS with a certificate matching an mx pattern"
	case outNoPolicy:
		return "the domain has no MTA-STS policy in force (no or invalid TXT record, or mode none): Postfix's default TLS level applies"
	case outTesting:
		return "the policy is in mode testing: Postfix's default TLS level applies (strict_testing enforces it)"
	case outFailOpen:
		return "a policy could not be fetched and none is cached (RFC 8461 §3.3 fail-open), or the zone fails open when undetermined"
	case outUndetermined:
		return "whether the domain has a policy could not be determined (DNS failure or timeout): Postfix defers and retries"
	case outTimeout:
		return "the discovery did not end before the request deadline (it goes on; the next request may have the answer): Postfix defers and retries"
	case outBadKey:
		return "the key is not a domain MTA-STS applies to (parent-domain retry, address literal or invalid name)"
	case outClosing:
		return "the daemon is shutting down"
	}
	return ""
}
