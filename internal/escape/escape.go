// Package escape makes attacker-controlled text safe to put in an error
// message, a log line or a terminal: bounded in length and with every
// control character and invalid byte written as an escape.
//
// Both leaves of the module (mtasts and tlsrpt) quote network input in
// their errors through it, so that an error never copies more than a short
// prefix of what a peer sent.
package escape

import "strconv"

// MaxQuoted is how many bytes of an input Quote keeps at most.
const MaxQuoted = 64

// Quote returns s as a Go-quoted string (strconv.Quote: control
// characters, invalid UTF-8 and quotes escaped), cut to its first
// MaxQuoted bytes on a UTF-8 boundary and followed by "..." when longer.
// Input from the network may be megabytes long; its quoted prefix is
// bounded and safe to log.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	n := MaxQuoted
	for n > MaxQuoted-3 && s[n]&0xC0 == 0x80 {
		n-- // do not cut a UTF-8 sequence
	}
	return strconv.Quote(s[:n]) + "..."
}
