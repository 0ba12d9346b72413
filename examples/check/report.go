package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/mtasts"
)

// writeReport prints res for people: what was found, section by section,
// then the findings with their fixes and the verdict. Every string that
// comes from the network goes through escape.Text (or %q).
func writeReport(w io.Writer, res *inspect.Result) {
	e := escape.Text
	fmt.Fprintf(w, "MTA-STS and TLS-RPT check of %s, %s\n", e(res.Domain), localTime(res.CheckedAt))

	fmt.Fprintf(w, "\nMTA-STS record _mta-sts.%s\n", e(res.Domain))
	if res.TXTDelegatedTo != "" {
		fmt.Fprintf(w, "  delegated: CNAME to %s (RFC 8461 §8.2)\n", e(res.TXTDelegatedTo))
	}
	writeTXT(w, res.TXT)
	if res.Record != nil {
		fmt.Fprintf(w, "  policy id: %s\n", e(res.Record.ID))
	}

	fmt.Fprintf(w, "\nPolicy %s\n", e(res.PolicyURL))
	if res.PolicyHostDelegatedTo != "" {
		fmt.Fprintf(w, "  policy host delegated: mta-sts.%s is a CNAME to %s (RFC 8461 §8.2)\n", e(res.Domain), e(res.PolicyHostDelegatedTo))
	}
	switch {
	case res.Policy != nil:
		for _, line := range strings.Split(strings.TrimSuffix(res.Policy.String(), "\r\n"), "\r\n") {
			fmt.Fprintf(w, "  %s\n", e(line))
		}
		if res.Record != nil && mtasts.PolicyID(res.Policy) == res.Record.ID {
			fmt.Fprintln(w, "  (the TXT id is the content id of this policy)")
		}
	case res.PolicyText != "":
		fmt.Fprintln(w, "  (served, but not a valid policy)")
	default:
		fmt.Fprintln(w, "  (not fetched)")
	}

	fmt.Fprintf(w, "\nMX hosts of %s\n", e(res.Domain))
	if len(res.MX) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, mx := range res.MX {
		cover := ""
		switch {
		case mx.Covered:
			cover = "matches mx: " + e(mx.Pattern)
		case res.Policy != nil:
			cover = "NOT in the policy"
		}
		fmt.Fprintf(w, "  %3d %s  %s\n", mx.Preference, e(mx.Host), cover)
		fmt.Fprintf(w, "      %s\n", probeLine(mx))
	}

	fmt.Fprintf(w, "\nTLS-RPT record _smtp._tls.%s\n", e(res.Domain))
	writeTXT(w, res.TLSRPT)

	errs, warns := 0, 0
	for _, f := range res.Findings {
		if f.Severity == inspect.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	fmt.Fprintf(w, "\nFindings: %s, %s\n", count(errs, "error"), count(warns, "warning"))
	for _, f := range res.Findings {
		subject := ""
		if f.Subject != "" {
			subject = " (" + e(f.Subject) + ")"
		}
		fmt.Fprintf(w, "  %-7s %s%s\n", f.Severity, f.Code, subject)
		fmt.Fprintf(w, "          %s\n", e(f.Message))
		fmt.Fprintf(w, "          fix: %s\n", e(f.Fix))
	}
	if errs == 0 {
		fmt.Fprintf(w, "\nOK: senders can apply the MTA-STS policy of %s\n", e(res.Domain))
	} else {
		fmt.Fprintf(w, "\nFAIL: %s to fix\n", count(errs, "error"))
	}
}

// writeTXT lists TXT records, or says there are none.
func writeTXT(w io.Writer, txts []string) {
	if len(txts) == 0 {
		fmt.Fprintln(w, "  (no TXT record)")
	}
	for _, t := range txts {
		fmt.Fprintf(w, "  TXT %q\n", t)
	}
}

// probeLine describes the STARTTLS probe of one MX host.
func probeLine(mx inspect.MXHost) string {
	switch {
	case !mx.Probed:
		return "not probed"
	case mx.Error != "" && mx.Certificate == nil:
		return "probe failed: " + escape.Text(mx.Error)
	case !mx.STARTTLS:
		return "STARTTLS: not offered"
	}
	s := "STARTTLS: " + mx.TLSVersion
	if c := mx.Certificate; c != nil {
		names := make([]string, len(c.DNSNames))
		for i, n := range c.DNSNames {
			names[i] = escape.Text(n)
		}
		s += fmt.Sprintf("; certificate for %s, valid until %s: ", strings.Join(names, " "), localTime(c.NotAfter))
		var ce *mtasts.CertificateError
		switch {
		case c.Valid:
			s += "valid for this host"
		case errors.As(c.Err, &ce):
			s += "NOT VALID (" + ce.Reason.String() + ")"
		default:
			s += "NOT VALID: " + escape.Text(c.Error)
		}
	}
	if mx.Error != "" {
		s += "; then: " + escape.Text(mx.Error)
	}
	return s
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
