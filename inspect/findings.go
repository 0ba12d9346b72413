package inspect

// The judging phase of Domain: what it found, turned into findings with
// fixes a person can act on.

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// shortMaxAge is the max_age below which Domain warns for enforce
// policies: RFC 8461 §3.2 expects max_age "in the range of weeks or
// greater".
const shortMaxAge = 7 * 24 * time.Hour

// judge turns what the network phase found into findings, in a fixed
// order: record, policy, id, MX coverage, MX hosts, TLS-RPT.
func (c *checker) judge() {
	if c.judgeDNS() {
		return
	}
	c.judgeRecord()
	c.judgePolicy()
	c.judgeID()
	c.judgeMX()
	for i := range c.res.MX {
		c.judgeProbe(&c.res.MX[i])
	}
	if len(c.notProbed) > 0 {
		c.warn("mx-not-probed", strings.Join(c.notProbed, " "),
			fmt.Sprintf("%d MX hosts were not probed: the inspector connects to the first %d only", len(c.notProbed), maxProbedMX),
			"check these hosts' STARTTLS and certificates separately")
	}
	c.judgeTLSRPT()
	c.judgeDelegation()
}

// judgeDNS reports the two DNS outcomes after which nothing else about
// the domain can be said, and returns whether it did: the resolver did
// not answer any lookup ("dns-resolver-failed", not the domain's fault),
// or the domain itself does not exist ("domain-missing").
func (c *checker) judgeDNS() bool {
	var down, answered int
	server := ""
	for _, err := range []error{c.recordErr, c.mxErr, c.tlsrptErr} {
		switch kind, srv := classifyDNS(err, c.exactNX); kind {
		case dnsResolverDown:
			down++
			server = cmp.Or(server, srv)
		default:
			answered++
		}
	}
	if down > 0 && answered == 0 {
		c.fail("dns-resolver-failed", server,
			fmt.Sprintf("%s did not answer (%v): the DNS records of %s could not be looked up, so nothing was checked; this is no finding about the domain", resolverName(server), c.mxErr, c.res.Domain),
			"make sure the resolver is running and reachable from here (with check: the -dns host:port), then inspect again")
		return true
	}
	mxKind, srv := classifyDNS(c.mxErr, c.exactNX)
	recordKind, _ := classifyDNS(c.recordErr, c.exactNX)
	tlsrptKind, _ := classifyDNS(c.tlsrptErr, c.exactNX)
	notFound := func(k dnsFailure) bool { return k == dnsNotFound || k == dnsNoSuchName }
	if mxKind == dnsNoSuchName && notFound(recordKind) && notFound(tlsrptKind) && c.fetchErr != nil {
		c.fail("domain-missing", c.res.Domain,
			fmt.Sprintf("%s does not exist: %s answered NXDOMAIN for it, so there is nothing to deliver mail to or to inspect", c.res.Domain, resolverName(srv)),
			"check the spelling of the domain; a domain must be registered and delegated before it can publish MTA-STS")
		return true
	}
	return false
}

// lookupFailure describes a failed lookup of name that classifyDNS put
// on the domain's name servers, naming the resolver that was asked.
func (c *checker) lookupFailure(name string, err error) string {
	kind, server := classifyDNS(err, c.exactNX)
	if kind == dnsResolverDown {
		return fmt.Sprintf("%s did not answer the query for %s in time, though it answered others: the domain's name servers may be slow or unreachable (%v)", resolverName(server), name, err)
	}
	return fmt.Sprintf("%s could not get an answer for %s from the domain's name servers, and senders cannot either (%v)", resolverName(server), name, err)
}

// judgeDelegation checks a setup delegated to a provider with CNAMEs
// (RFC 8461 §8.2): the TXT record and the policy host go together, since
// the id in the one must change with the policy of the other.
func (c *checker) judgeDelegation() {
	txt, host := c.res.TXTDelegatedTo, c.res.PolicyHostDelegatedTo
	switch {
	case txt != "" && host == "":
		c.warn("delegation-partial", c.recordName(),
			fmt.Sprintf("%s is delegated (CNAME to %s) but mta-sts.%s is not: the provider publishes the policy id while you serve the policy, so a policy change on one side leaves a stale id or policy on the other (RFC 8461 §8.2)", c.recordName(), txt, c.res.Domain),
			fmt.Sprintf("delegate both to the provider (also a CNAME for mta-sts.%s to the provider's policy host), or neither", c.res.Domain))
	case txt == "" && host != "":
		c.warn("delegation-partial", "mta-sts."+c.res.Domain,
			fmt.Sprintf("mta-sts.%s is delegated (CNAME to %s) but %s is not: the provider serves the policy while you publish its id, so a policy change by the provider goes unnoticed by senders that cached the old one (RFC 8461 §8.2)", c.res.Domain, host, c.recordName()),
			fmt.Sprintf("delegate both to the provider (also a CNAME for %s to the provider's record), or neither", c.recordName()))
	}
}

func (c *checker) add(sev Severity, code, subject, msg, fix string) {
	c.res.Findings = append(c.res.Findings, Finding{Severity: sev, Code: code, Subject: subject, Message: msg, Fix: fix})
}

func (c *checker) fail(code, subject, msg, fix string) {
	c.add(SeverityError, code, subject, msg, fix)
}

func (c *checker) warn(code, subject, msg, fix string) {
	c.add(SeverityWarning, code, subject, msg, fix)
}

// recordName is _mta-sts.<domain>.
func (c *checker) recordName() string { return "_mta-sts." + c.res.Domain }

// suggestedRecord returns the zone-file line of the TXT record for the
// policy served, or a template when there is none.
func (c *checker) suggestedRecord() string {
	id := "<id: 1 to 32 letters and digits, new for each policy>"
	if c.res.Policy != nil {
		id = mtasts.PolicyID(c.res.Policy)
		if rr, err := mtasts.RecordTXT(c.res.Domain, &mtasts.Record{ID: id}, time.Hour); err == nil {
			return rr.String()
		}
	}
	return fmt.Sprintf("%s. 3600 IN TXT \"v=STSv1; id=%s\"", c.recordName(), id)
}

func (c *checker) judgeRecord() {
	name := c.recordName()
	switch err := c.recordErr; {
	case err == nil:
	case errors.Is(err, mtasts.ErrNoRecord):
		msg := fmt.Sprintf("no MTA-STS TXT record at %s: senders do not look for the policy (RFC 8461 §3.1)", name)
		for _, t := range c.res.TXT {
			if near := strings.ToLower(strings.TrimLeft(t, " \t")); strings.HasPrefix(near, "v=stsv1") {
				msg += fmt.Sprintf("; %s is not one: it must begin with exactly \"v=STSv1;\" (case-sensitive, nothing before it)", escape.Quote(t))
				break
			}
		}
		fix := "publish " + c.suggestedRecord()
		if c.res.Policy != nil {
			fix += " (the id is PolicyID of the policy served)"
		}
		c.fail("txt-missing", name, msg, fix)
	case errors.Is(err, mtasts.ErrMultipleRecords):
		c.fail("txt-multiple", name,
			fmt.Sprintf("%s has more than one TXT record beginning with \"v=STSv1;\": senders then ignore them all (RFC 8461 §3.1)", name),
			"delete all but one: "+c.suggestedRecord())
	case errors.Is(err, mtasts.ErrInvalidRecord):
		c.fail("txt-invalid", name,
			fmt.Sprintf("the MTA-STS TXT record at %s is invalid, so senders ignore it: %v", name, err),
			"replace it with "+c.suggestedRecord())
	default:
		c.fail("txt-lookup-failed", name, c.lookupFailure(name, err),
			"make the domain's name servers answer TXT queries for "+name)
	}
}

// fetchFinding returns the finding code of a failed fetch and a fix, with
// a %s for the domain.
func fetchFinding(reason mtasts.FetchFailure) (code, fix string) {
	switch reason {
	case mtasts.FetchTimeout:
		return "policy-timeout", "make the policy host at mta-sts.%s answer within seconds"
	case mtasts.FetchWebPKI:
		return "policy-certificate", "install a certificate for mta-sts.%s from a public CA, with the full chain, and renew it before it expires"
	case mtasts.FetchStatus:
		return "policy-http-status", "serve the policy at https://mta-sts.%s/.well-known/mta-sts.txt with status 200, without redirects"
	case mtasts.FetchMediaType:
		return "policy-media-type", "serve the policy file of mta-sts.%s with Content-Type: text/plain"
	case mtasts.FetchTooLarge:
		return "policy-too-large", "keep the policy of mta-sts.%s under 64 KiB: list mx patterns, not every host"
	}
	return "policy-unreachable", "make mta-sts.%s resolve to a web server that accepts HTTPS connections on port 443"
}

func (c *checker) judgePolicy() {
	if c.fetchErr != nil {
		var reason mtasts.FetchFailure
		if fe := (*mtasts.FetchError)(nil); errors.As(c.fetchErr, &fe) {
			reason = fe.Reason
		}
		code, fix := fetchFinding(reason)
		c.fail(code, c.res.PolicyURL,
			fmt.Sprintf("senders cannot fetch the policy: %v", c.fetchErr),
			fmt.Sprintf(fix, c.res.Domain))
		return
	}
	for _, d := range c.res.Diagnostics {
		fix := d.Fix
		if fix == "" {
			fix = fmt.Sprintf("correct line %d of the policy file", d.Line)
		}
		c.add(d.Severity, "policy-syntax", c.res.PolicyURL,
			fmt.Sprintf("policy line %d, column %d: %s", d.Line, d.Column, d.Message), fix)
	}
	p := c.res.Policy
	if p == nil {
		return
	}
	if c.strictErr != nil {
		c.fail("policy-not-strict", c.res.PolicyURL,
			fmt.Sprintf("senders that parse the policy by the RFC 8461 grammar reject it: %v", c.strictErr),
			"serve the policy in canonical form, as Policy.MarshalText writes it: CRLF line endings, no byte order mark, no blank lines, mx host names without a trailing dot")
	}
	switch p.Mode {
	case mtasts.ModeNone:
		c.warn("mode-none", c.res.PolicyURL,
			"the policy's mode is none: senders apply no MTA-STS protection (RFC 8461 §5)",
			"if MTA-STS is being removed (§8.3), delete the TXT record and the policy host once the last policy served before has expired (max_age); otherwise switch to mode testing or enforce and publish a new id")
	case mtasts.ModeTesting:
		maxTesting := c.opts.MaxTesting
		if maxTesting <= 0 {
			maxTesting = DefaultMaxTesting
		}
		if since := c.opts.TestingSince; !since.IsZero() && c.now.Sub(since) > maxTesting {
			c.warn("testing-too-long", c.res.PolicyURL,
				fmt.Sprintf("the policy has been in mode testing since %s (%d days, more than %d): testing mode reports failures but protects no mail (RFC 8461 §5)",
					since.UTC().Format(time.DateOnly), int(c.now.Sub(since)/(24*time.Hour)), int(maxTesting/(24*time.Hour))),
				"once the TLS-RPT reports show no failures, switch to mode: enforce, then publish a new id")
		}
	}
	if p.Mode == mtasts.ModeEnforce && p.MaxAge < shortMaxAge {
		c.warn("max-age-short", c.res.PolicyURL,
			fmt.Sprintf("max_age is %d seconds: senders refetch often and an attacker who blocks the fetch soon strips the protection; RFC 8461 §3.2 expects weeks or more", int64(p.MaxAge/time.Second)),
			"set max_age: 1209600 (two weeks) or more, up to 31557600")
	}
}

func (c *checker) judgeID() {
	last, served := c.opts.LastPublished, c.res.Policy
	if last == nil || served == nil || last.String() == served.String() {
		return
	}
	id := mtasts.PolicyID(served)
	if c.res.Record != nil && c.res.Record.ID == id {
		return // the id follows the content
	}
	txtID := "no TXT id"
	if c.res.Record != nil {
		txtID = "the TXT id " + c.res.Record.ID
	}
	c.fail("id-drift", c.recordName(),
		fmt.Sprintf("the policy served differs from the last published one (%s), but %s is not the served policy's content id %s: senders that cached the earlier policy keep applying it until its max_age runs out (RFC 8461 §3.1, §5.1)",
			policyDiff(last, served), txtID, id),
		"if the served policy is intended, publish "+c.suggestedRecord()+"; otherwise serve the last published policy again")
}

// policyDiff describes how b differs from a.
func policyDiff(a, b *mtasts.Policy) string {
	var d []string
	if a.Mode != b.Mode {
		d = append(d, fmt.Sprintf("mode %s → %s", a.Mode, b.Mode))
	}
	for _, m := range b.MX {
		if !slices.Contains(a.MX, m) {
			d = append(d, "mx "+m+" added")
		}
	}
	for _, m := range a.MX {
		if !slices.Contains(b.MX, m) {
			d = append(d, "mx "+m+" removed")
		}
	}
	if a.MaxAge != b.MaxAge {
		d = append(d, fmt.Sprintf("max_age %d → %d", int64(a.MaxAge/time.Second), int64(b.MaxAge/time.Second)))
	}
	if len(d) == 0 {
		d = append(d, "extensions or mx order changed")
	}
	return strings.Join(d, ", ")
}

func (c *checker) judgeMX() {
	domain := c.res.Domain
	if c.mxErr != nil {
		var dnsErr *net.DNSError
		if errors.As(c.mxErr, &dnsErr) && dnsErr.IsNotFound {
			c.fail("mx-missing", domain,
				fmt.Sprintf("%s has no MX records: senders fall back to its address records (RFC 5321 §5.1), which no mx pattern is meant for", domain),
				"publish MX records naming the mail servers, and list them in the policy's mx lines")
			return
		}
		if len(c.res.MX) == 0 {
			c.fail("mx-lookup-failed", domain, c.lookupFailure(domain+" (MX)", c.mxErr),
				"make the domain's name servers answer MX queries")
			return
		}
		c.warn("mx-lookup-failed", domain, fmt.Sprintf("some MX records of %s are unusable: %v", domain, c.mxErr),
			"make each MX record name a valid host name")
	}
	if isNullMX(c.res.MX) {
		c.warn("mx-null", domain,
			fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail, so an MTA-STS policy has no effect", domain),
			"remove the MTA-STS records, or publish the MX records of the mail servers")
		return
	}
	p := c.res.Policy
	if p == nil {
		return
	}
	for i := range c.res.MX {
		mx := &c.res.MX[i]
		for _, m := range p.MX {
			if mtasts.Pattern(m).Match(mx.Host) {
				mx.Covered, mx.Pattern = true, m
				break
			}
		}
	}
	if p.Mode == mtasts.ModeNone {
		return
	}
	for _, mx := range c.res.MX {
		if mx.Covered {
			continue
		}
		sev, effect := SeverityError, "senders in enforce mode will not deliver to it"
		if p.Mode == mtasts.ModeTesting {
			sev, effect = SeverityWarning, "in mode testing senders deliver anyway but report failures; in enforce mode they would not deliver to it"
		}
		msg := fmt.Sprintf("MX host %s (preference %d) matches no mx pattern of the policy (%s): %s (RFC 8461 §4.1)",
			mx.Host, mx.Preference, strings.Join(p.MX, ", "), effect)
		fix := fmt.Sprintf("add \"mx: %s\" to the policy, serve it, then publish a new TXT id (§8.1); or remove the MX record if the host is retired", mx.Host)
		if pat, deeper, ok := shallowWildcard(p.MX, mx.Host); ok {
			msg += fmt.Sprintf("; the wildcard %s matches exactly one label, so it covers hosts like x.%s but not %s", pat, pat[2:], mx.Host)
			fix = fmt.Sprintf("add \"mx: *.%s\" (or \"mx: %s\") to the policy, serve it, then publish a new TXT id (§8.1)", deeper, mx.Host)
		}
		c.add(sev, "mx-not-covered", mx.Host, msg, fix)
	}
	if len(c.res.MX) == 0 {
		return
	}
	for _, m := range p.MX {
		used := false
		for _, mx := range c.res.MX {
			if mtasts.Pattern(m).Match(mx.Host) {
				used = true
				break
			}
		}
		if !used {
			c.warn("pattern-unused", m,
				fmt.Sprintf("the mx pattern %s matches none of the MX hosts (%s)", m, mxHosts(c.res.MX)),
				fmt.Sprintf("remove \"mx: %s\" unless it is for a host about to be added", m))
		}
	}
}

// shallowWildcard finds a wildcard pattern "*.S" of which host is a
// deeper descendant (at least two labels before S): the common mistake of
// expecting "*." to match several labels. It returns the pattern and the
// parent of host that a wildcard would have to name.
func shallowWildcard(patterns []string, host string) (pattern, parent string, ok bool) {
	for _, m := range patterns {
		suffix, isWild := strings.CutPrefix(m, "*")
		if !isWild || !strings.HasSuffix(host, suffix) {
			continue
		}
		if head := host[:len(host)-len(suffix)]; strings.Contains(head, ".") {
			_, parent, _ := strings.Cut(host, ".")
			return m, parent, true
		}
	}
	return "", "", false
}

func mxHosts(mx []MXHost) string {
	hosts := make([]string, len(mx))
	for i, m := range mx {
		hosts[i] = m.Host
	}
	return strings.Join(hosts, ", ")
}

func (c *checker) judgeTLSRPT() {
	name := "_smtp._tls." + c.res.Domain
	example := mtasts.DNSRecord{Name: name + ".", Type: "TXT", TTL: time.Hour,
		Value: "v=TLSRPTv1; rua=mailto:tlsrpt@" + c.res.Domain}
	publish := "publish " + example.String() + " (with your own address) to receive reports"
	var dnsErr *net.DNSError
	if c.tlsrptErr != nil && !(errors.As(c.tlsrptErr, &dnsErr) && dnsErr.IsNotFound) {
		c.warn("tlsrpt-lookup-failed", name, c.lookupFailure(name, c.tlsrptErr),
			"make the domain's name servers answer TXT queries for "+name)
		return
	}
	switch err := c.selectErr; {
	case errors.Is(err, tlsrpt.ErrNoRecord):
		c.warn("tlsrpt-missing", name,
			fmt.Sprintf("no TLS-RPT record at %s: senders cannot tell the domain about failed TLS or MTA-STS checks (RFC 8460)", name),
			publish)
	case errors.Is(err, tlsrpt.ErrMultipleRecords):
		c.warn("tlsrpt-multiple", name,
			fmt.Sprintf("%s has %d TXT records beginning with \"v=TLSRPTv1;\": senders then ignore them all (RFC 8460 §3)", name, tlsrptCount(c.res.TLSRPT)),
			"keep one record and list every rua destination in it, separated by commas")
	case err != nil:
		c.warn("tlsrpt-invalid", name, fmt.Sprintf("the TLS-RPT record at %s is unusable: %v", name, err),
			"correct it: "+publish)
	case len(c.res.TLSRPTRecord.Destinations()) == 0:
		c.warn("tlsrpt-invalid", name,
			fmt.Sprintf("the TLS-RPT record at %s has no usable rua: RFC 8460 §3 defines only mailto: and https: URIs, and senders skip the others", name),
			"correct it: "+publish)
	}
}

// tlsrptCount returns how many of txts begin with "v=TLSRPTv1" *WSP ";",
// the prefix by which RFC 8460 §3 tells TLS-RPT records apart.
func tlsrptCount(txts []string) int {
	n := 0
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, "v=TLSRPTv1")
		if ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			n++
		}
	}
	return n
}
