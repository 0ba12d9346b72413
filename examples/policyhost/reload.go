package main

import (
	"context"
	"crypto/sha256"
	"os"
	"slices"
	"time"
)

// reloadLoop reloads the configuration at every signal on reload, and at
// every tick on ticks when the file's content has changed, until ctx
// ends.
func (h *host) reloadLoop(ctx context.Context, reload <-chan os.Signal, ticks <-chan time.Time) {
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			data, err := readConfig(h.opts.config)
			if err == nil {
				h.digest = sha256.Sum256(data)
			}
			h.reload(data, err, "SIGHUP")
		case <-ticks:
			data, err := readConfig(h.opts.config)
			if err != nil {
				// A file being replaced may be missing for a moment: say
				// so once, and look again at the next tick.
				if err.Error() != lastErr {
					h.logger.Warn("cannot read the configuration; still serving the previous one", "config", h.opts.config, "error", err)
				}
				lastErr = err.Error()
				continue
			}
			lastErr = ""
			if d := sha256.Sum256(data); d != h.digest {
				h.digest = d
				h.reload(data, nil, "changed on disk")
			}
		}
	}
}

// reload serves the configuration data read from the file (or reports
// readErr), and the static certificate read again. A configuration with
// any error is refused whole and logged, and the previous one keeps
// serving. Otherwise the new one is served from the next request on, and
// then the changes are printed: the records to publish come after the
// policies they announce (RFC 8461 §8.1).
func (h *host) reload(data []byte, readErr error, cause string) {
	var sites []site
	var warnings []string
	err := readErr
	if err == nil {
		sites, warnings, err = parseConfig(h.opts.config, data)
	}
	cert := h.cert.Load()
	if err == nil && h.opts.certFile != "" {
		cert, err = loadCertificate(h.opts.certFile, h.opts.keyFile, sites)
	}
	old := h.current.Load()
	if err != nil {
		h.logger.Error("reload refused; the previous configuration keeps serving", "cause", cause, "config", h.opts.config, "domains", len(old.sites), "error", err)
		return
	}
	for _, w := range warnings {
		h.logger.Warn(w)
	}
	next := newSiteSet(sites)
	if h.opts.certFile != "" {
		h.cert.Store(cert)
	}
	h.current.Store(next)

	// From here on every request gets the new policies.
	added, changed, removed := diff(old, next)
	h.say("reloaded %s (%s): %d domains; %d added, %d changed, %d removed", h.opts.config, cause, len(sites), len(added), len(changed), len(removed))
	for _, s := range publishingOrder(changed) {
		h.sayRecords(s, "")
	}
	if h.acme != nil {
		h.acme.certify(added, true)
	} else {
		for _, s := range publishingOrder(added) {
			h.sayRecords(s, "with mta-sts."+s.domain+" pointing at this host (A/AAAA or CNAME), ")
		}
	}
	for _, s := range removed {
		h.sayRemoved(s)
	}
}

// diff compares two configurations: the sites only in next, those whose
// policy or records differ, and those only in old.
func diff(old, next *siteSet) (added, changed, removed []site) {
	for _, s := range next.sites {
		o := old.byDomain[s.domain]
		switch {
		case o == nil:
			added = append(added, s)
		case o.id != s.id || !slices.Equal(o.records, s.records):
			changed = append(changed, s)
		}
	}
	for _, s := range old.sites {
		if next.byDomain[s.domain] == nil {
			removed = append(removed, s)
		}
	}
	return added, changed, removed
}
