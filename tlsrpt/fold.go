package tlsrpt

// Folded returns the failure detail into which a Collector folds d once
// the policy of d has reached its limit of distinct failure details for
// the day (Collector.MaxFailureDetails): the result type of d
// (validation-failure for a type outside the IANA registry, RFC 8460
// §4.3.1) and its sending MTA IP, with ReasonDetailLimit as the
// failure-reason-code and a zero count. A store that caps the details of a
// fleet's Collectors itself folds with it. A folded detail folds into
// itself.
func (d FailureDetail) Folded() FailureDetail { return overflowKey(detailKey(d)) }
