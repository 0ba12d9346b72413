package tlsrpt

import (
	"math/rand/v2"
	"testing"
)

// hasStringSpecial agrees with the byte-wise definition on every byte value
// at every position, among ordinary bytes and among other special bytes.
func TestHasStringSpecial(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	check := func(b [8]byte) {
		want := false
		for _, c := range b {
			want = want || special(c)
		}
		if got := hasStringSpecial(load64(string(b[:]), 0)); got != want {
			t.Fatalf("hasStringSpecial(%q) = %v, want %v", b, got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			b := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			b[pos] = byte(c)
			check(b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(0x18 + rng.IntN(0x70)) // mostly ordinary, sometimes special
		}
		check(b)
	}
}
