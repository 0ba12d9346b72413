package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

// maxDomains bounds the number of domains in one configuration file.
const maxDomains = 10000

// minMaxAge is the shortest max_age of a policy in mode testing or
// enforce that loads without a warning. RFC 8461 §3.2: "it is expected
// that this value typically be in the range of weeks or greater", since a
// policy protects a sender only while it is cached.
const minMaxAge = 7 * 24 * time.Hour

// config is the configuration file: the domains whose policies this host
// serves.
//
//	{
//	  "ttl": 3600,
//	  "domains": [
//	    {"domain": "example.com", "mode": "enforce", "mx": ["mx1.example.com"],
//	     "max_age": 1209600, "tlsrpt": "mailto:tlsrpt@example.com"}
//	  ]
//	}
type config struct {
	// TTL is the TTL of the DNS records to publish, in seconds; 0 means
	// 3600.
	TTL uint32 `json:"ttl"`
	// Domains are the policy domains, in any order.
	Domains []domainConfig `json:"domains"`
}

// domainConfig is one policy domain.
type domainConfig struct {
	Domain string   `json:"domain"`
	Mode   string   `json:"mode"`
	MX     []string `json:"mx"`
	// MaxAge is the policy's max_age in seconds. It is required: a
	// missing max_age is an error, never a silent 0 that senders would
	// not cache at all.
	MaxAge *int64 `json:"max_age"`
	// TLSRPT, when set, lists the rua destinations (comma-separated
	// mailto: and https: URIs) of the domain's TLS-RPT record (RFC 8460
	// §3), so that senders report what fails.
	TLSRPT string `json:"tlsrpt"`
}

// site is a domain ready to serve: its policy, id and the DNS records to
// publish, in order (TLS-RPT first, so that reports flow as soon as
// senders see the policy).
type site struct {
	domain  string
	policy  *mtasts.Policy
	id      string
	records []mtasts.DNSRecord
}

// readConfig returns the content of the configuration file name.
func readConfig(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxConfigSize)
	}
	return data, nil
}

// parseConfig checks the content data of the configuration file name. It
// returns the sites in the order of the file and warnings about valid but
// unwise settings; with an error, nothing of the file is to be used.
func parseConfig(name string, data []byte) (sites []site, warnings []string, err error) {
	c, err := decodeConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if c.TTL == 0 {
		c.TTL = 3600
	}
	var errs []error
	seen := map[string]bool{}
	for i, d := range c.Domains {
		s, warning, err := d.site(time.Duration(c.TTL) * time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: domains[%d] (%s): %w", name, i, escape.Quote(d.Domain), err))
			continue
		}
		if seen[s.domain] {
			errs = append(errs, fmt.Errorf("%s: domains[%d]: %s appears twice", name, i, s.domain))
			continue
		}
		seen[s.domain] = true
		sites = append(sites, s)
		if warning != "" {
			warnings = append(warnings, fmt.Sprintf("%s: domains[%d] (%s): %s", name, i, s.domain, warning))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return sites, warnings, nil
}

// decodeConfig parses the configuration file, with errors that say where
// the problem is.
func decodeConfig(data []byte) (*config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(`the file is empty; it needs a JSON object such as {"domains": [{"domain": "example.com", "mode": "testing", "mx": ["mx.example.com"], "max_age": 604800}]}`)
	}
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	if err == nil && dec.More() {
		off := dec.InputOffset()
		off += int64(len(data[off:]) - len(bytes.TrimLeft(data[off:], " \t\r\n")))
		err = fmt.Errorf("%s: data after the JSON object", position(data, off))
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("the JSON ends early; the file is cut short")
	case errors.As(err, &syntax):
		return nil, fmt.Errorf("%s: %v", position(data, syntax.Offset-1), err)
	case errors.As(err, &typ):
		return nil, fmt.Errorf("%s: %s is a JSON %s, but must be a %s", position(data, typ.Offset-1), typ.Field, typ.Value, typ.Type)
	default:
		return nil, err
	}
	if len(c.Domains) == 0 {
		return nil, errors.New(`no domains: list them as "domains": [{"domain": ...}, ...]`)
	}
	if len(c.Domains) > maxDomains {
		return nil, fmt.Errorf("%d domains, more than the %d one file may hold", len(c.Domains), maxDomains)
	}
	return &c, nil
}

// position returns "line L, column C" of the byte at offset off of data,
// both 1-based, the column counted in bytes.
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// site checks d and builds its policy and records, with the TTL ttl. The
// warning, if not empty, names a valid setting that weakens the policy.
func (d domainConfig) site(ttl time.Duration) (site, string, error) {
	domain, err := mtasts.NormalizeDomain(d.Domain)
	if err != nil {
		return site{}, "", err
	}
	maxMaxAge := int64(mtasts.MaxMaxAge / time.Second)
	if d.MaxAge == nil {
		return site{}, "", fmt.Errorf(`"max_age" is missing: give it in seconds, such as 604800 (one week) or 1209600 (two weeks); at most %d`, maxMaxAge)
	}
	if *d.MaxAge < 0 || *d.MaxAge > maxMaxAge {
		return site{}, "", fmt.Errorf("max_age %d is not between 0 and %d", *d.MaxAge, maxMaxAge)
	}
	if err := uniquePatterns(d.MX); err != nil {
		return site{}, "", err
	}
	maxAge := time.Duration(*d.MaxAge) * time.Second
	p, err := mtasts.NewPolicy(mtasts.Mode(d.Mode), maxAge, d.MX...)
	if err != nil {
		return site{}, "", err
	}
	var warning string
	if p.Mode != mtasts.ModeNone && maxAge < minMaxAge {
		warning = fmt.Sprintf("max_age %d is shorter than a week: senders keep the policy only that long, and RFC 8461 §3.2 expects weeks or more", *d.MaxAge)
	}
	s := site{domain: domain, policy: p, id: mtasts.PolicyID(p)}
	if d.TLSRPT != "" {
		rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=" + d.TLSRPT)
		if err != nil {
			return site{}, "", fmt.Errorf("tlsrpt: %w", err)
		}
		if len(rec.Destinations()) == 0 {
			return site{}, "", fmt.Errorf("tlsrpt: %s has no mailto: or https: destination", escape.Quote(d.TLSRPT))
		}
		rr := mtasts.DNSRecord{Name: "_smtp._tls." + s.domain + ".", Type: "TXT", TTL: ttl.Truncate(time.Second), Value: rec.String()}
		if err := rr.Validate(); err != nil {
			return site{}, "", err
		}
		s.records = append(s.records, rr)
	}
	rr, err := mtasts.RecordTXT(s.domain, &mtasts.Record{ID: s.id}, ttl)
	if err != nil {
		return site{}, "", err
	}
	s.records = append(s.records, rr)
	return s, warning, nil
}

// uniquePatterns rejects an mx pattern listed twice, in whatever spelling
// (letter case, a trailing dot, U-labels): a repeated line is a mistake
// in the configuration, never a second MX host.
func uniquePatterns(mx []string) error {
	seen := make(map[mtasts.Pattern]string, len(mx))
	for _, s := range mx {
		p, err := mtasts.ParsePattern(s)
		if err != nil {
			continue // NewPolicy reports it, in its words
		}
		if first, dup := seen[p]; dup {
			return fmt.Errorf("mx %s is listed twice (the first time as %s)", escape.Quote(s), escape.Quote(first))
		}
		seen[p] = s
	}
	return nil
}
