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
//
// The struct tags name the members of the §4.4 schema. Report has its own
// MarshalJSON (strict RFC form) and UnmarshalJSON (lenient, see the package
// documentation); the other types rely on the tags.
type Report struct {
	// OrganizationName names the organisation responsible for the report.
	OrganizationName string `json:"organization-name"`
	// DateRange is the period the report covers.
	DateRange DateRange `json:"date-range"`
	// ContactInfo is how to reach the reporting organisation, usually an
	// email address; its domain is the sender of the file name (§5.1).
	ContactInfo string `json:"contact-info"`
	// ReportID identifies the report; the Report-ID of the email subject
	// is derived from it (§5.3).
	ReportID string `json:"report-id"`
	// Policies holds one result per policy applied.
	Policies []PolicyResult `json:"policies"`

	// notes holds what the decoder read leniently (the deviations of real
	// senders listed in the package documentation); Validate reports them.
	notes []note
}

// DateRange is the report window (RFC 8460 §4.4 date-range), normally one
// whole UTC day from 00:00:00Z to 24:00:00Z (§4.1).
type DateRange struct {
	Start time.Time `json:"start-datetime"` // RFC 3339 date-time, written in UTC
	End   time.Time `json:"end-datetime"`   // RFC 3339 date-time, written in UTC
}

// PolicyResult is one element of the policies array: a policy, the
// session counts under it, and the failures grouped by detail (§4.4).
type PolicyResult struct {
	Policy  AppliedPolicy `json:"policy"`
	Summary Summary       `json:"summary"`
	// FailureDetails groups the failed sessions; empty when none failed.
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// AppliedPolicy describes the policy a sender applied (RFC 8460 §4.4 policy).
type AppliedPolicy struct {
	// Type is the kind of policy: tlsa, sts or no-policy-found.
	Type PolicyType `json:"policy-type"`
	// PolicyString holds the policy, one line (or one TLSA record) per element.
	PolicyString []string `json:"policy-string,omitempty"`
	// Domain is the policy domain in A-labels.
	Domain string `json:"policy-domain"`
	// MXHost lists the MX host patterns of an STS policy (erratum 6241: an array).
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts the sessions under one policy (RFC 8460 §4.4 summary).
type Summary struct {
	// TotalSuccessfulSessionCount counts the sessions that negotiated TLS
	// and passed the policy.
	TotalSuccessfulSessionCount int64 `json:"total-successful-session-count"`
	// TotalFailureSessionCount counts the sessions that failed.
	TotalFailureSessionCount int64 `json:"total-failure-session-count"`
}

// FailureDetail groups failed sessions that share a result type and
// endpoints (RFC 8460 §4.4 failure-details).
type FailureDetail struct {
	// ResultType says what failed (§4.3).
	ResultType ResultType `json:"result-type"`
	// SendingMTAIP is the address of the sending MTA that tried the
	// session; the zero Addr means absent.
	SendingMTAIP netip.Addr `json:"sending-mta-ip,omitzero"`
	// ReceivingMXHostname is the name of the MX host the sender connected to.
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	// ReceivingMXHelo is the name the MX host gave in its greeting
	// (optional).
	ReceivingMXHelo string `json:"receiving-mx-helo,omitempty"`
	// ReceivingIP is the address of the MX host; the zero Addr means absent.
	ReceivingIP netip.Addr `json:"receiving-ip,omitzero"`
	// FailedSessionCount counts the sessions that failed this way.
	FailedSessionCount int64 `json:"failed-session-count"`
	// AdditionalInformation is a URI pointing to more about the failures
	// (optional).
	AdditionalInformation string `json:"additional-information,omitempty"`
	// FailureReasonCode is a code or message about the failure; §4.3
	// asks for it with certificate-not-trusted and validation-failure.
	FailureReasonCode string `json:"failure-reason-code,omitempty"`
}
