package tlsrpt

// Character classes of the grammars this package parses, as a table
// indexed by byte so that the parsers test a class with one lookup.
const (
	classAlnum = 1 << iota // ALPHA / DIGIT
	classLDH               // ALPHA / DIGIT / "-"
	classURI               // unreserved / gen-delims / sub-delims of RFC 3986, except "%", "#", "[", "]"
	classPath              // what url.URL leaves unescaped in a path: ALPHA / DIGIT / "-._~/$&+=:@"
	classAtext             // RFC 5322 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~"
	classDelim             // ends a URI in a rua field: "," / ";" / SP / HTAB
)

// charClass is a constant table: it is filled once here and never written.
var charClass = func() (t [256]uint8) {
	set := func(class uint8, chars string) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= class
		}
	}
	for c := 0; c < 256; c++ {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			t[c] |= classAlnum | classLDH | classURI | classPath | classAtext
		}
	}
	set(classLDH, "-")
	set(classURI, "-._~:/?@!$&'()*+,;=")
	set(classPath, "-._~/$&+=:@")
	set(classAtext, "!#$%&'*+-/=?^_`{|}~")
	set(classDelim, ",; \t")
	return t
}()

func isAlnum(c byte) bool { return charClass[c]&classAlnum != 0 }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
