package mtasts

import (
	"crypto/sha256"
	"encoding/hex"
)

// PolicyID derives a TXT record id (RFC 8461 §3.1: 1 to 32 letters and
// digits) from the policy's content: the first 32 hexadecimal digits (128
// bits) of the SHA-256 of its canonical form (Policy.String). Any change to
// the policy changes the id, and publishing the same policy again yields
// the same id, so a policy host never has to keep a counter. Following
// §8.1, publish the new policy file before the TXT record with the new id.
func PolicyID(p *Policy) string {
	sum := sha256.Sum256(p.appendText(nil))
	return hex.EncodeToString(sum[:16])
}
