package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
	"github.com/smtpsec/smtpsec/tlsrpt"
)

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

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
	// MaxAge is the policy's max_age in seconds.
	MaxAge int64 `json:"max_age"`
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

// loadConfig reads and checks the configuration file.
func loadConfig(name string) ([]site, error) {
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
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(c.Domains) == 0 {
		return nil, fmt.Errorf("%s: no domains", name)
	}
	if c.TTL == 0 {
		c.TTL = 3600
	}
	var errs []error
	var sites []site
	seen := map[string]bool{}
	for i, d := range c.Domains {
		s, err := d.site(time.Duration(c.TTL) * time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: domains[%d] (%s): %w", name, i, d.Domain, err))
			continue
		}
		if seen[s.domain] {
			errs = append(errs, fmt.Errorf("%s: domains[%d]: %s appears twice", name, i, s.domain))
			continue
		}
		seen[s.domain] = true
		sites = append(sites, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sites, nil
}

// site checks d and builds its policy and records, with the TTL ttl.
func (d domainConfig) site(ttl time.Duration) (site, error) {
	domain, err := mtasts.NormalizeDomain(d.Domain)
	if err != nil {
		return site{}, fmt.Errorf("%q is not a domain name", d.Domain)
	}
	if d.MaxAge < 0 || d.MaxAge > int64(mtasts.MaxMaxAge/time.Second) {
		return site{}, fmt.Errorf("max_age %d is not between 0 and %d", d.MaxAge, int64(mtasts.MaxMaxAge/time.Second))
	}
	p, err := mtasts.NewPolicy(mtasts.Mode(d.Mode), time.Duration(d.MaxAge)*time.Second, d.MX...)
	if err != nil {
		return site{}, err
	}
	s := site{domain: domain, policy: p, id: mtasts.PolicyID(p)}
	if d.TLSRPT != "" {
		rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=" + d.TLSRPT)
		if err != nil {
			return site{}, fmt.Errorf("tlsrpt: %w", err)
		}
		if len(rec.Destinations()) == 0 {
			return site{}, fmt.Errorf("tlsrpt: %q has no mailto: or https: destination", d.TLSRPT)
		}
		rr := mtasts.DNSRecord{Name: "_smtp._tls." + s.domain + ".", Type: "TXT", TTL: ttl.Truncate(time.Second), Value: rec.String()}
		if err := rr.Validate(); err != nil {
			return site{}, err
		}
		s.records = append(s.records, rr)
	}
	rr, err := mtasts.RecordTXT(s.domain, &mtasts.Record{ID: s.id}, ttl)
	if err != nil {
		return site{}, err
	}
	s.records = append(s.records, rr)
	return s, nil
}
