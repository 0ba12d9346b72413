package mtasts

import (
	"crypto/x509"
	"fmt"
	"time"
)

// CheckResult is what Check found. Its JSON form (encoding/json) is meant
// for programs and for people: the policy is written as its text, severity
// as "error" or "warning".
type CheckResult struct {
	// Domain is the policy domain in A-labels.
	Domain string `json:"domain"`
	// CheckedAt is the time the check started, by CheckOptions.Now.
	CheckedAt time.Time `json:"checked_at"`

	// TXT holds the TXT records found at _mta-sts.<domain>, all of them.
	TXT []string `json:"txt"`
	// Record is the MTA-STS record selected from TXT by the rules of RFC
	// 8461 §3.1, or nil.
	Record *Record `json:"record,omitempty"`

	// PolicyURL is https://mta-sts.<domain>/.well-known/mta-sts.txt.
	PolicyURL string `json:"policy_url"`
	// PolicyText is the policy file as served, when the fetch succeeded.
	PolicyText string `json:"policy_text,omitempty"`
	// Policy is PolicyText parsed with DiagnosePolicy, or nil.
	Policy *Policy `json:"policy,omitempty"`
	// Diagnostics are DiagnosePolicy's findings about PolicyText. Each one
	// is also in Findings, with the code "policy-syntax".
	Diagnostics []Diagnostic `json:"-"`

	// MX holds the domain's MX hosts, by preference, each host once.
	MX []MXCheck `json:"mx"`

	// TLSRPT holds the TXT records found at _smtp._tls.<domain>.
	TLSRPT []string `json:"tlsrpt"`

	// Findings are the problems found, each with a stable code, a
	// description and a fix. A domain whose setup is complete and
	// consistent has none.
	Findings []Finding `json:"findings"`
}

// OK reports whether the check found no error. Warnings do not count.
func (r *CheckResult) OK() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}

// MXCheck is what Check found about one MX host.
type MXCheck struct {
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

	// Probed reports whether Check connected to the host (see
	// CheckOptions.SkipSTARTTLS); Address is the address dialled.
	Probed  bool   `json:"probed"`
	Address string `json:"address,omitempty"`
	// STARTTLS reports whether the host offered STARTTLS after EHLO.
	STARTTLS bool `json:"starttls"`
	// TLSVersion is the negotiated TLS version, such as "TLS 1.3".
	TLSVersion string `json:"tls_version,omitempty"`
	// Certificate describes the certificate presented in the handshake.
	Certificate *CertificateInfo `json:"certificate,omitempty"`
	// Error says why the probe did not complete: connection, SMTP dialogue
	// or TLS handshake. Err is the error itself.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
}

// CertificateInfo describes an MX host's certificate and the result of
// VerifyMXCertificate on it.
type CertificateInfo struct {
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
	// MX host (VerifyMXCertificate with CheckOptions.RootCAs and Now).
	// Otherwise Error says why and Err is the *CertificateError.
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
	// Chain holds the certificates as presented, leaf first.
	Chain []*x509.Certificate `json:"-"`
}

// A Finding is one problem Check found: how bad it is, a stable code for
// programs, and for people what is wrong and what to do about it.
type Finding struct {
	// Severity is SeverityError for a problem that makes MTA-STS fail
	// (senders fetch no policy, or refuse or fail delivery to an MX host)
	// and SeverityWarning for one that weakens it or will soon break it.
	Severity Severity `json:"severity"`
	// Code identifies the kind of finding: "txt-missing", "mx-not-covered",
	// "cert-expiring", ... (the constants are listed with Check).
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
