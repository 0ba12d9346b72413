package tlsrpt

import (
	"errors"
	"fmt"
)

// ErrNotRecorded is matched (errors.Is) by the errors of
// PolicyCounter.Success and PolicyCounter.Failure for a session that was
// not recorded because the report of its day could not carry it: the
// policy or the failure detail breaks RFC 8460 §4.4 (see Validate). Such a
// session is refused when it is recorded, not discovered when the report
// is sent; the error says what to fix.
var ErrNotRecorded = errors.New("tlsrpt: session not recorded")

// Dropped returns the number of sessions that c refused to record since
// it was created (see ErrNotRecorded). Each refusal is also returned to
// the caller; the first one of each policy is logged at level WARN.
func (c *Collector) Dropped() int64 { return c.dropped.Load() }

// isFetchFailure reports whether t is one of the MTA-STS policy failures
// of RFC 8460 §4.3.2.2: a session to a domain whose policy could not be
// fetched, so that no policy string can be reported.
func isFetchFailure(t ResultType) bool {
	return t == ResultSTSPolicyFetchError || t == ResultSTSPolicyInvalid || t == ResultSTSWebPKIInvalid
}

// checkPolicy checks the normal policy p the way Validate checks the policy
// of a report. fetchOnly is set for an sts policy without policy-string,
// which only sessions with a fetch failure may be recorded under (Validate
// accepts it with those alone).
func checkPolicy(p *AppliedPolicy) (fetchOnly bool, err error) {
	fetchOnly = p.Type == PolicySTS && len(p.PolicyString) == 0
	pr := PolicyResult{Policy: *p}
	if fetchOnly {
		pr.Policy.PolicyString = []string{"version: STSv1"} // stands for the policy that was not fetched
	}
	return fetchOnly, checkResult(&pr)
}

// checkDetail checks a failure detail, in normal form, before its first
// session is counted: Validate must accept a report holding it.
func (pc *PolicyCounter) checkDetail(k *FailureDetail) error {
	if pc.fetchOnly && !isFetchFailure(k.ResultType) {
		return fmt.Errorf("%w: a %s failure under an sts policy without policy-string (only fetch failures can be reported without the policy)",
			ErrNotRecorded, k.ResultType)
	}
	d := *k
	d.FailedSessionCount = 1
	return checkResult(&PolicyResult{
		Policy:         AppliedPolicy{Type: PolicyNotFound, Domain: "example.com"}, // checked by checkPolicy
		Summary:        Summary{TotalFailureSessionCount: 1},
		FailureDetails: []FailureDetail{d},
	})
}

// checkResult runs Validate's checks of one policy result.
func checkResult(pr *PolicyResult) error {
	var v validator
	v.enter(0, -1)
	v.policyResult(0, pr)
	if len(v.problems) > 0 {
		return fmt.Errorf("%w: %w", ErrNotRecorded, &ValidationError{Problems: v.problems, Omitted: v.omitted})
	}
	return nil
}

// successError is the error of a success refused under pc's policy.
func (pc *PolicyCounter) successError() error {
	if pc.invalid != nil {
		return pc.invalid
	}
	return fmt.Errorf("%w: a success under an sts policy without policy-string (a policy that was applied has its string)", ErrNotRecorded)
}

// drop counts a refused session, logs the first of pc, and returns err.
func (pc *PolicyCounter) drop(err error) error {
	c := pc.c
	c.dropped.Add(1)
	if !pc.warned.Swap(true) {
		c.log.Warn("tlsrpt: session not recorded; the report could not carry it (further ones of this policy are only counted)",
			"policy-domain", pc.policy.Domain, "policy-type", pc.policy.Type, "err", err)
	}
	return err
}
