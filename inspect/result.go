package inspect

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// Result is what Domain found. Its JSON form (encoding/json) is meant for
// programs and for people: the policy is written as its text, severity as
// "error" or "warning".
type Result struct {
	// Domain is the policy domain in A-labels.
	Domain string `json:"domain"`
	// CheckedAt is the time the inspection started, by Options.Now.
	CheckedAt time.Time `json:"checked_at"`

	// TXT holds the TXT records found at _mta-sts.<domain>, all of them.
	TXT []string `json:"txt"`
	// Record is the MTA-STS record selected from TXT by the rules of RFC
	// 8461 §3.1, or nil.
	Record *mtasts.Record `json:"record,omitempty"`

	// PolicyURL is https://mta-sts.<domain>/.well-known/mta-sts.txt
	// (RFC 8461 §3.3).
	PolicyURL string `json:"policy_url"`
	// PolicyText is the policy file as served, when the fetch succeeded.
	PolicyText string `json:"policy_text,omitempty"`
	// Policy is PolicyText parsed with mtasts.DiagnosePolicy, or nil.
	Policy *mtasts.Policy `json:"policy,omitempty"`
	// Diagnostics are mtasts.DiagnosePolicy's findings about PolicyText.
	// Each one is also in Findings, with the code "policy-syntax".
	Diagnostics []mtasts.Diagnostic `json:"-"`

	// TXTDelegatedTo and PolicyHostDelegatedTo are the targets of the
	// CNAMEs at _mta-sts.<domain> and mta-sts.<domain>: a setup delegated
	// to a provider (RFC 8461 §8.2). Empty when there is no CNAME, or the
	// Resolver does not look up CNAMEs (it needs a LookupCNAME method,
	// as *net.Resolver has).
	TXTDelegatedTo        string `json:"txt_delegated_to,omitempty"`
	PolicyHostDelegatedTo string `json:"policy_host_delegated_to,omitempty"`

	// MX holds the domain's MX hosts, by preference, each host once.
	MX []MXHost `json:"mx"`

	// TLSRPT holds the TXT records found at _smtp._tls.<domain>.
	TLSRPT []string `json:"tlsrpt"`
	// TLSRPTRecord is the TLS-RPT record selected from TLSRPT by
	// tlsrpt.SelectRecord (RFC 8460 §3), or nil. It is not part of the
	// JSON form, which has the record's text in TLSRPT.
	TLSRPTRecord *tlsrpt.Record `json:"-"`

	// Findings are the problems found, each with a stable code, a
	// description and a fix. A domain whose setup is complete and
	// consistent has none.
	Findings []Finding `json:"findings"`
}

// OK reports whether the inspection found no error. Warnings do not count.
func (r *Result) OK() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}

// MXHost is what Domain found about one MX host.
type MXHost struct {
	// Host is the MX host name in A-labels, lower case, without the
	// trailing dot.
	Host string `json:"host"`
	// Preference is the MX preference; lower is tried first.
	Preference uint16 `json:"preference"`
	// Covered reports whether an mx pattern of the policy matches Host
	// (RFC 8461 §4.1); Pattern is the first that does. Both are unset when
	// no policy was fetched.
	Covered bool   `json:"covered"`
	Pattern string `json:"pattern,omitempty"`

	// Probed reports whether Domain connected to the host (see
	// Options.SkipSTARTTLS); Address is the address dialled.
	Probed  bool   `json:"probed"`
	Address string `json:"address,omitempty"`
	// STARTTLS reports whether the host offered STARTTLS after EHLO
	// (RFC 3207).
	STARTTLS bool `json:"starttls"`
	// TLSVersion is the negotiated TLS version, such as "TLS 1.3".
	TLSVersion string `json:"tls_version,omitempty"`
	// Certificate describes the certificate presented in the handshake.
	Certificate *Certificate `json:"certificate,omitempty"`
	// Error says why the probe did not complete: connection, SMTP dialogue
	// or TLS handshake. Err is the error itself.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
}

// Certificate describes an MX host's certificate and the result of
// mtasts.VerifyMXCertificate on it (RFC 8461 §4.2).
type Certificate struct {
	// Subject and Issuer are the distinguished names of the leaf
	// certificate.
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// DNSNames are the leaf's subject alternative names of type dNSName:
	// the only names RFC 8461 §4.2 matches against the MX host.
	DNSNames []string `json:"dns_names"`
	// NotBefore and NotAfter bound the leaf's validity period.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Valid reports whether the certificate passes RFC 8461 §4.2 for the
	// MX host (mtasts.VerifyMXCertificate with Options.RootCAs and Now).
	// Otherwise Error says why and Err is the *mtasts.CertificateError.
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
	// Chain holds the certificates as presented, leaf first.
	Chain []*x509.Certificate `json:"-"`
}

// Severity says how bad a Finding is. It is mtasts.Severity, the severity
// of mtasts.DiagnosePolicy's findings, so that a "policy-syntax" Finding
// keeps the severity of its mtasts.Diagnostic. Its text form (String,
// MarshalText) is "error" or "warning".
type Severity = mtasts.Severity

// The severities of a Finding.
const (
	// SeverityWarning marks a problem that weakens MTA-STS or TLS-RPT, or
	// will soon break it, but does not make senders fail today.
	SeverityWarning = mtasts.SeverityWarning
	// SeverityError marks a problem that makes MTA-STS fail: senders fetch
	// no policy (RFC 8461 §3), or refuse or fail delivery to an MX host
	// (§4, §5).
	SeverityError = mtasts.SeverityError
)

// A Finding is one problem Domain found: how bad it is, a stable code for
// programs, and for people what is wrong and what to do about it.
type Finding struct {
	// Severity is SeverityError for a problem that makes MTA-STS fail
	// (senders fetch no policy, or refuse or fail delivery to an MX host)
	// and SeverityWarning for one that weakens it or will soon break it.
	Severity Severity `json:"severity"`
	// Code identifies the kind of finding: "txt-missing", "mx-not-covered",
	// "cert-expiring", ... (the codes are listed in the package
	// documentation).
	Code string `json:"code"`
	// Subject is the MX host, mx pattern or DNS name concerned, if any.
	Subject string `json:"subject,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Fix says what to do.
	Fix string `json:"fix"`
}

// String formats f as "severity code: message (fix: ...)".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s: %s (fix: %s)", f.Severity, f.Code, f.Message, f.Fix)
}
