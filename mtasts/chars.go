package mtasts

// Character classes of the RFC 8461 grammars, as bits of charClass.
const (
	classAlnum    = 1 << iota // ALPHA / DIGIT
	classExtName              // ALPHA / DIGIT / "_" / "-" / "."
	classRecValue             // %x21-3A / %x3C / %x3E-7E (sts-ext-value of §3.1)
	classLDH                  // ALPHA / DIGIT / "-" (host name labels)
	classUpper                // "A" to "Z"
	classNotDigit             // anything but "0" to "9"
)

// charClass maps each byte to its classes. It is a constant table, built
// once and never written.
var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		var k uint8
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		digit := '0' <= c && c <= '9'
		if alpha || digit {
			k |= classAlnum | classExtName | classLDH
		}
		if c == '_' || c == '-' || c == '.' {
			k |= classExtName
		}
		if c == '-' {
			k |= classLDH
		}
		if c >= 0x21 && c <= 0x7e && c != ';' && c != '=' {
			k |= classRecValue
		}
		if 'A' <= c && c <= 'Z' {
			k |= classUpper
		}
		if !digit {
			k |= classNotDigit
		}
		t[c] = k
	}
	return t
}()

func isAlnum(c byte) bool { return charClass[c]&classAlnum != 0 }

// isExtNameChar reports whether c may appear in an extension name,
// of §3.1 and §3.2 alike.
func isExtNameChar(c byte) bool { return charClass[c]&classExtName != 0 }
