package policycache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

// A stored entry is what the Cache writes to its Store for one policy
// domain: enough to apply the policy after a restart. It is text, so that
// an operator can read it:
//
//	smtpsec-policycache 1
//	sha256 <64 hex digits: SHA-256 of everything after this line>
//	domain example.com
//	id 20240501T1000
//	fetched 2024-05-01T10:00:00.123456789Z
//
//	version: STSv1
//	mode: enforce
//	...
//
// The policy is in the canonical form of (*mtasts.Policy).String and is
// parsed again, strictly, when read. The checksum makes a truncated or
// damaged entry a miss rather than a wrong policy. A new layout would get
// a new version number; entries of another version are misses.
const (
	entryMagic   = "smtpsec-policycache 1\n"
	entrySumTag  = "sha256 "
	entrySumLine = len(entrySumTag) + sha256.Size*2 + 1
)

// errCorrupt reports a stored entry that is damaged, truncated or not
// written by this version of the package.
var errCorrupt = errors.New("policycache: corrupt stored entry")

// storedPolicy is the content of a stored entry.
type storedPolicy struct {
	Domain  string
	ID      string
	Fetched time.Time
	Policy  *mtasts.Policy
}

// encode returns the stored form of s.
func (s *storedPolicy) encode() []byte {
	var body bytes.Buffer
	body.WriteString("domain " + s.Domain + "\n")
	body.WriteString("id " + s.ID + "\n")
	body.WriteString("fetched " + s.Fetched.UTC().Format(time.RFC3339Nano) + "\n")
	body.WriteString("\n")
	body.WriteString(s.Policy.String())

	out := make([]byte, 0, len(entryMagic)+entrySumLine+body.Len())
	out = append(out, entryMagic...)
	out = append(out, entrySumTag...)
	out = append(out, entryChecksum(body.Bytes())...)
	out = append(out, '\n')
	return append(out, body.Bytes()...)
}

// entryChecksum returns the SHA-256 of an entry's body in lower-case hex.
func entryChecksum(body []byte) []byte {
	sum := sha256.Sum256(body)
	return hex.AppendEncode(nil, sum[:])
}

// decodeStored parses a stored entry. Every error matches errCorrupt.
func decodeStored(data []byte) (*storedPolicy, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
	}
	rest, ok := bytes.CutPrefix(data, []byte(entryMagic))
	if !ok {
		return nil, corrupt("unknown format or version")
	}
	if len(rest) < entrySumLine || !bytes.HasPrefix(rest, []byte(entrySumTag)) || rest[entrySumLine-1] != '\n' {
		return nil, corrupt("no checksum")
	}
	want, err := hex.DecodeString(string(rest[len(entrySumTag) : entrySumLine-1]))
	if err != nil {
		return nil, corrupt("bad checksum line")
	}
	body := rest[entrySumLine:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], want) {
		return nil, corrupt("checksum mismatch (truncated or damaged)")
	}

	header, policy, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, corrupt("no policy")
	}
	var s storedPolicy
	fields := strings.Split(string(header), "\n")
	if len(fields) != 3 {
		return nil, corrupt("%d header lines, want 3", len(fields))
	}
	for i, name := range []string{"domain", "id", "fetched"} {
		value, ok := strings.CutPrefix(fields[i], name+" ")
		if !ok {
			return nil, corrupt("header line %d is not %s", i+1, name)
		}
		switch name {
		case "domain":
			if d, err := mtasts.NormalizeDomain(value); err != nil || d != value {
				return nil, corrupt("bad domain %q", value)
			}
			s.Domain = value
		case "id":
			if !validID(value) {
				return nil, corrupt("bad id %q", value)
			}
			s.ID = value
		case "fetched":
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return nil, corrupt("bad fetch time: %v", err)
			}
			// encode writes the time in UTC with a four-digit year; a
			// time whose UTC form falls outside years 1–9999 cannot be
			// written back, so no version of this package wrote it.
			if y := t.UTC().Year(); y < 1 || y > 9999 {
				return nil, corrupt("fetch time %q out of range", value)
			}
			s.Fetched = t
		}
	}
	p, err := mtasts.ParsePolicy(policy)
	if err != nil {
		return nil, corrupt("policy: %v", err)
	}
	s.Policy = p
	return &s, nil
}

// validID reports whether id is a policy id of RFC 8461 §3.1: 1 to 32
// letters and digits.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
