package tlsrpt

import (
	"net/netip"
	"time"
)

// PolicyType is the policy-type of RFC 8460 §4.4: which kind of policy a
// sender applied to a session.
type PolicyType string

// The policy types of RFC 8460 §4.4.
const (
	PolicyTLSA     PolicyType = "tlsa"            // DANE TLSA records (RFC 6698)
	PolicySTS      PolicyType = "sts"             // an MTA-STS policy (RFC 8461)
	PolicyNotFound PolicyType = "no-policy-found" // neither was found
)

// ResultType is a result-type of RFC 8460 §4.3, as registered in the IANA
// "STARTTLS Validation Result Types" registry (§6.6).
type ResultType string

// Every result type in the IANA registry (RFC 8460 §4.3, §6.6).
const (
	// Negotiation failures (§4.3.1).
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	// Policy failures: DANE (§4.3.2.1).
	ResultTLSAInvalid   ResultType = "tlsa-invalid"
	ResultDNSSECInvalid ResultType = "dnssec-invalid"
	ResultDANERequired  ResultType = "dane-required"
	// Policy failures: MTA-STS (§4.3.2.2).
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    ResultType = "sts-webpki-invalid"
)

// Report is an aggregate TLS report (RFC 8460 §4): the results of one
// sending organisation's sessions to one policy domain over a date range.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`

	// notes holds what the decoder read leniently (the deviations of real
	// senders listed in the package documentation); Validate reports them.
	notes []Problem
}

// DateRange is the report window (RFC 8460 §4.4 date-range), normally one
// whole UTC day from 00:00:00Z to 24:00:00Z (§4.1).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResult is one element of the policies array: a policy, the
// session counts under it, and the failures grouped by detail (§4.4).
type PolicyResult struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Policy describes the policy a sender applied (RFC 8460 §4.4 policy).
type Policy struct {
	Type PolicyType `json:"policy-type"`
	// String holds the policy, one line (or one TLSA record) per element.
	String []string `json:"policy-string,omitempty"`
	// Domain is the policy domain in A-labels.
	Domain string `json:"policy-domain"`
	// MXHost lists the MX host patterns of an STS policy (erratum 6241: an array).
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts the sessions under one policy (RFC 8460 §4.4 summary).
type Summary struct {
	TotalSuccessfulSessionCount int64 `json:"total-successful-session-count"`
	TotalFailureSessionCount    int64 `json:"total-failure-session-count"`
}

// FailureDetail groups failed sessions that share a result type and
// endpoints (RFC 8460 §4.4 failure-details).
type FailureDetail struct {
	ResultType            ResultType `json:"result-type"`
	SendingMTAIP          netip.Addr `json:"sending-mta-ip,omitzero"`
	ReceivingMXHostname   string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           netip.Addr `json:"receiving-ip,omitzero"`
	FailedSessionCount    int64      `json:"failed-session-count"`
	AdditionalInformation string     `json:"additional-information,omitempty"`
	FailureReasonCode     string     `json:"failure-reason-code,omitempty"`
}
