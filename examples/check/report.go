package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpsec/smtpsec/inspect"
	"github.com/smtpsec/smtpsec/mtasts"
)

// writeReport prints res for people: what was found, section by section,
// then the findings with their fixes and the verdict.
func writeReport(w io.Writer, res *inspect.Result) {
	fmt.Fprintf(w, "MTA-STS and TLS-RPT check of %s, %s\n", res.Domain, localTime(res.CheckedAt))

	fmt.Fprintf(w, "\nMTA-STS record _mta-sts.%s\n", res.Domain)
	writeTXT(w, res.TXT)
	if res.Record != nil {
		fmt.Fprintf(w, "  policy id: %s\n", res.Record.ID)
	}

	fmt.Fprintf(w, "\nPolicy %s\n", res.PolicyURL)
	switch {
	case res.Policy != nil:
		for _, line := range strings.Split(strings.TrimSuffix(res.Policy.String(), "\r\n"), "\r\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
		if res.Record != nil && mtasts.PolicyID(res.Policy) == res.Record.ID {
			fmt.Fprintln(w, "  (the TXT id is the content id of this policy)")
		}
	case res.PolicyText != "":
		fmt.Fprintln(w, "  (served, but not a valid policy)")
	default:
		fmt.Fprintln(w, "  (not fetched)")
	}

	fmt.Fprintf(w, "\nMX hosts of %s\n", res.Domain)
	if len(res.MX) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, mx := range res.MX {
		cover := ""
		switch {
		case mx.Covered:
			cover = "matches mx: " + mx.Pattern
		case res.Policy != nil:
			cover = "NOT in the policy"
		}
		fmt.Fprintf(w, "  %3d %s  %s\n", mx.Preference, mx.Host, cover)
		fmt.Fprintf(w, "      %s\n", probeLine(mx))
	}

	fmt.Fprintf(w, "\nTLS-RPT record _smtp._tls.%s\n", res.Domain)
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
			subject = " (" + f.Subject + ")"
		}
		fmt.Fprintf(w, "  %-7s %s%s\n", f.Severity, f.Code, subject)
		fmt.Fprintf(w, "          %s\n", f.Message)
		fmt.Fprintf(w, "          fix: %s\n", f.Fix)
	}
	if errs == 0 {
		fmt.Fprintf(w, "\nOK: senders can apply the MTA-STS policy of %s\n", res.Domain)
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
		return "probe failed: " + mx.Error
	case !mx.STARTTLS:
		return "STARTTLS: not offered"
	}
	s := "STARTTLS: " + mx.TLSVersion
	if c := mx.Certificate; c != nil {
		s += fmt.Sprintf("; certificate for %s, valid until %s: ", strings.Join(c.DNSNames, " "), localTime(c.NotAfter))
		var ce *mtasts.CertificateError
		switch {
		case c.Valid:
			s += "valid for this host"
		case errors.As(c.Err, &ce):
			s += "NOT VALID (" + ce.Reason.String() + ")"
		default:
			s += "NOT VALID: " + c.Error
		}
	}
	if mx.Error != "" {
		s += "; then: " + mx.Error
	}
	return s
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
