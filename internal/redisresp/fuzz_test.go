package redisresp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzReply: any bytes parse without panic and within the limits, and a
// command encoded from parts parses back (as an array of bulk strings) to
// the same parts.
func FuzzReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n",
		"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "$99999999\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rr := newReplyReader(bytes.NewReader(in))
		for range 4 {
			r, err := rr.read()
			if err != nil {
				var se *ServerError
				if errors.As(err, &se) && len(se.Message) > 300 { // escape.Quote: 64 input bytes, at most 4 characters each, plus quotes
					t.Fatalf("server error message of %d bytes", len(se.Message))
				}
				break
			}
			checkLimits(t, r, 0)
		}

		parts := strings.Split(string(in), "\x00")
		rr = newReplyReader(bytes.NewReader(appendCommand(nil, parts...)))
		r, err := rr.read()
		if len(in) > MaxBulk || len(parts) > MaxArray {
			return
		}
		if err != nil || r.Kind != KindArray || len(r.Array) != len(parts) {
			t.Fatalf("command %q parsed as %+v, %v", parts, r, err)
		}
		for i, p := range parts {
			if string(r.Array[i].Bytes) != p {
				t.Fatalf("part %d: %q, want %q", i, r.Array[i].Bytes, p)
			}
		}
	})
}

// checkLimits fails t when r is past a limit.
func checkLimits(t *testing.T, r Reply, depth int) {
	if depth > MaxDepth || len(r.Bytes) > MaxBulk || len(r.Array) > MaxArray {
		t.Fatalf("reply past the limits at depth %d: %d bytes, %d elements", depth, len(r.Bytes), len(r.Array))
	}
	for _, e := range r.Array {
		checkLimits(t, e, depth+1)
	}
}
