package mtasts

import (
	"errors"
	"fmt"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// NewPolicy builds a policy for a policy host from values given in code or
// configuration and validates it. Each mx pattern is normalised with
// ParsePattern, so U-labels, upper case and a trailing dot are accepted and
// stored as lower-case A-labels without the dot. The error, if any, matches
// ErrInvalidPolicy.
//
// RFC 8461 §10 recommends a max_age of weeks; §8.3 a small one when
// switching to mode none before removing the policy.
func NewPolicy(mode Mode, maxAge time.Duration, mx ...string) (*Policy, error) {
	p := &Policy{Mode: mode, MaxAge: maxAge}
	var errs []error
	if len(mx) > 0 {
		p.MX = make([]string, 0, len(mx))
	}
	for _, m := range mx {
		q, err := ParsePattern(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.MX = append(p.MX, string(q))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports whether p can be published as a policy file that
// senders accept (RFC 8461 §3.2): Mode is enforce, testing or none;
// MaxAge is whole seconds from 0 to MaxMaxAge; MX holds at least one
// pattern unless Mode is none; each MX pattern is a host name in A-labels,
// optionally beginning with "*." (upper case is allowed and written in
// lower case; U-labels and a trailing dot are reported — normalise them
// with ParsePattern or NewPolicy); each extension has a valid name, not one
// of the standard field names, and a non-empty value without control
// characters or surrounding spaces.
//
// Every policy returned by ParsePolicy or DiagnosePolicy is valid. The
// error joins one error per problem, each matching ErrInvalidPolicy.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...))
	}
	switch p.Mode {
	case ModeEnforce, ModeTesting, ModeNone:
	case "":
		bad("mode is not set; use enforce, testing or none")
	default:
		bad("mode %s is not enforce, testing or none", escape.Quote(string(p.Mode)))
	}
	switch {
	case p.MaxAge < 0:
		bad("max_age %v is negative", p.MaxAge)
	case p.MaxAge > MaxMaxAge:
		bad("max_age %v is above the maximum of 31557600 seconds (one year)", p.MaxAge)
	case p.MaxAge%time.Second != 0:
		bad("max_age %v is not a whole number of seconds", p.MaxAge)
	}
	if len(p.MX) == 0 && p.Mode != ModeNone && p.Mode != "" {
		bad("mode %s requires at least one mx pattern", p.Mode)
	}
	for i, m := range p.MX {
		if off, msg, fix := checkPattern(m); off >= 0 {
			if fix != "" {
				bad("mx[%d] %s: %s (%s)", i, escape.Quote(m), msg, fix)
			} else {
				bad("mx[%d] %s: %s", i, escape.Quote(m), msg)
			}
		}
	}
	for i, e := range p.Extensions {
		switch {
		case e.Name == "version" || e.Name == "mode" || e.Name == "max_age" || e.Name == "mx":
			bad("extension %d: %s is a standard field, not an extension", i, e.Name)
			continue
		case e.Name == "" || !isAlnum(e.Name[0]) || len(e.Name) > 32 || !allExtNameChars(e.Name):
			bad("extension %d: name %s is not a letter or digit followed by up to 31 letters, digits, \"_\", \"-\" or \".\"", i, escape.Quote(e.Name))
		}
		if off, msg := checkExtValue(e.Value); off >= 0 {
			bad("extension %s: %s", e.Name, msg)
		} else if e.Value[0] == ' ' || e.Value[len(e.Value)-1] == ' ' {
			bad("extension %s: the value begins or ends with a space", e.Name)
		}
	}
	return errors.Join(errs...)
}

func allExtNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isExtNameChar(s[i]) {
			return false
		}
	}
	return true
}
