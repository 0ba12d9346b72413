package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// This file holds the URI syntax of RFC 3986 as RFC 8460 uses it: rua
// destinations (§3) and additional-information (§4.4).

// checkURI checks s against the URI production of RFC 3986 §3: a scheme,
// ":", and characters of the URI character set with well-formed
// percent-encodings. With rua, "!" must be percent-encoded (RFC 8460 §3;
// "," and ";" end the URI before this is called). It returns the length of
// the scheme, or the position and description of the first error.
func checkURI(s string, rua bool) (schemeLen, at int, msg string) {
	if s == "" || !isAlpha(s[0]) {
		return 0, 0, "does not start with a scheme"
	}
	i := 1
	for i < len(s) && (isAlnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if i == len(s) || s[i] != ':' {
		return 0, 0, "no scheme (a URI starts with a scheme and \":\")"
	}
	schemeLen = i
	// Brackets are allowed only in the authority (an IP literal), "#" only
	// once (it starts the fragment).
	authEnd := schemeLen + 1
	if strings.HasPrefix(s[i+1:], "//") {
		authEnd = i + 3
		for authEnd < len(s) && s[authEnd] != '/' && s[authEnd] != '?' && s[authEnd] != '#' {
			authEnd++
		}
	}
	fragment := false
	for i++; i < len(s); i++ {
		c := s[i]
		if charClass[c]&classURI != 0 && (c != '!' || !rua) {
			continue
		}
		switch {
		case c == '#':
			if fragment {
				return 0, i, "a second \"#\""
			}
			fragment = true
		case (c == '[' || c == ']') && i >= authEnd:
			return 0, i, fmt.Sprintf("%q outside the host", c)
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return 0, i, "\"%\" not followed by two hexadecimal digits"
			}
			i += 2
		case c == '!':
			return 0, i, "\"!\" must be percent-encoded (RFC 8460 §3)"
		case c == '[' || c == ']':
		case c >= utf8.RuneSelf:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return 0, i, fmt.Sprintf("invalid character %q (not US-ASCII)", r)
		default:
			return 0, i, fmt.Sprintf("invalid character %q", c)
		}
	}
	return schemeLen, 0, ""
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}

// isURI reports whether s is an RFC 3986 URI.
func isURI(s string) bool {
	_, _, msg := checkURI(s, false)
	if msg != "" {
		return false
	}
	_, err := url.Parse(s)
	return err == nil
}

// parseReportURI parses the rua URI that starts at txt[i] and ends before
// the next ",", ";", white space or the end, into *u. It checks the URI
// syntax as checkURI does, in the same pass noting what url.Parse would
// have to handle, so that the common forms (mailto:addr,
// https://host/path) are built directly into the url.URL that url.Parse
// would return; the rest go through url.Parse. mailto: URIs must carry
// valid addresses and https: URIs a valid host. It returns the end of the
// URI, or the position in txt and description of an error.
func parseReportURI(txt string, i int, u *url.URL) (end, errAt int, msg string) {
	start := i
	if i == len(txt) || isDelim(txt[i]) {
		return 0, i, "empty URI in rua"
	}
	if !isAlpha(txt[i]) {
		return 0, i, uriErr(txt, start, "does not start with a scheme")
	}
	for i++; i < len(txt) && (isAlnum(txt[i]) || txt[i] == '+' || txt[i] == '-' || txt[i] == '.'); i++ {
	}
	if i == len(txt) || txt[i] != ':' {
		return 0, start, uriErr(txt, start, "no scheme (a URI starts with a scheme and \":\")")
	}
	scheme := txt[start:i]
	i++
	restStart := i
	var (
		hostStart, hostEnd = -1, -1
		special            bool // "%", "?", "#", "@", "[", "]" or a sub-delim in the host: leave it to url.Parse
		oddPath            bool // a path character url.URL would escape
		fragment           bool
	)
	// The authority, if any, up to "/", "?", "#" or the end.
	if strings.HasPrefix(txt[i:], "//") {
		i += 2
		hostStart = i
		for ; i < len(txt); i++ {
			c := txt[i]
			cls := charClass[c]
			if cls&classLDH != 0 || c == '.' || c == ':' {
				continue
			}
			if cls&classDelim != 0 || c == '/' || c == '?' || c == '#' {
				break
			}
			switch {
			case c == '%':
				if i+2 >= len(txt) || !isHex(txt[i+1]) || !isHex(txt[i+2]) {
					return 0, i, uriErr(txt, start, "\"%\" not followed by two hexadecimal digits")
				}
				i += 2
			case c == '!':
				return 0, i, uriErr(txt, start, "\"!\" must be percent-encoded (RFC 8460 §3)")
			case c == '[' || c == ']' || cls&classURI != 0:
			default:
				return 0, i, uriErr(txt, start, invalidChar(txt, i))
			}
			special = true
		}
		hostEnd = i
	}
	// The path, query and fragment.
	for ; i < len(txt); i++ {
		c := txt[i]
		cls := charClass[c]
		if cls&classPath != 0 {
			continue
		}
		if cls&classDelim != 0 {
			break
		}
		switch {
		case c == '?':
			special = true
		case c == '#':
			if fragment {
				return 0, i, uriErr(txt, start, "a second \"#\"")
			}
			fragment, special = true, true
		case c == '%':
			if i+2 >= len(txt) || !isHex(txt[i+1]) || !isHex(txt[i+2]) {
				return 0, i, uriErr(txt, start, "\"%\" not followed by two hexadecimal digits")
			}
			i += 2
			special = true
		case c == '!':
			return 0, i, uriErr(txt, start, "\"!\" must be percent-encoded (RFC 8460 §3)")
		case c == '[' || c == ']':
			return 0, i, uriErr(txt, start, fmt.Sprintf("%q outside the host", c))
		case cls&classURI != 0:
			oddPath = true
		default:
			return 0, i, uriErr(txt, start, invalidChar(txt, i))
		}
	}
	end = i
	rest := txt[restStart:end]
	switch {
	case scheme == "mailto" && !special && rest != "" && rest[0] != '/':
		if !isAddrSpec(rest) {
			return 0, restStart, uriErr(txt, start, "not a valid email address")
		}
		*u = url.URL{Scheme: "mailto", Opaque: rest}
		return end, 0, ""
	case scheme == "https" && !special && !oddPath && hostStart >= 0:
		host := txt[hostStart:hostEnd]
		if !isHostPort(host) {
			return 0, hostStart, uriErr(txt, start, "not a valid host")
		}
		*u = url.URL{Scheme: "https", Host: host, Path: txt[hostEnd:end]}
		return end, 0, ""
	}
	p, err := url.Parse(txt[start:end])
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, start, uriErr(txt, start, err.Error())
	}
	switch p.Scheme {
	case "mailto":
		to, err := url.PathUnescape(p.Opaque)
		if p.Opaque == "" || err != nil || !isAddrList(to) {
			return 0, restStart, uriErr(txt, start, "not a valid email address")
		}
	case "https":
		if p.Opaque != "" || !isHostPort(p.Host) {
			if hostStart >= 0 {
				return 0, hostStart, uriErr(txt, start, "not a valid host")
			}
			return 0, restStart, uriErr(txt, start, "not a valid host")
		}
	}
	*u = *p
	return end, 0, ""
}

// uriErr describes a problem with the URI starting at txt[start].
func uriErr(txt string, start int, msg string) string {
	end := start
	for end < len(txt) && !isDelim(txt[end]) {
		end++
	}
	return fmt.Sprintf("rua URI %s: %s", escape.Quote(txt[start:end]), msg)
}

// isDelim reports whether c ends a URI in a rua field: ",", ";" or white
// space (RFC 8460 §3; "," and ";" in a URI must be percent-encoded).
func isDelim(c byte) bool { return charClass[c]&classDelim != 0 }

// invalidChar describes the invalid character at txt[i].
func invalidChar(txt string, i int) string {
	if c := txt[i]; c < utf8.RuneSelf {
		return fmt.Sprintf("invalid character %q", c)
	}
	r, _ := utf8.DecodeRuneInString(txt[i:])
	return fmt.Sprintf("invalid character %q (not US-ASCII)", r)
}

// isHostPort reports whether hp is a host name (LDH labels), an IPv4
// address or a bracketed IPv6 address, with an optional numeric port.
func isHostPort(hp string) bool {
	host := hp
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return false
		}
		host, hp = hp[1:end], hp[end+1:]
		if !isIPv6Literal(host) {
			return false
		}
		host = "ok"
	} else if colon := strings.IndexByte(hp, ':'); colon >= 0 {
		host, hp = hp[:colon], hp[colon:]
	} else {
		hp = ""
	}
	if hp != "" {
		if hp[0] != ':' || len(hp) == 1 {
			return false
		}
		for i := 1; i < len(hp); i++ {
			if hp[i] < '0' || hp[i] > '9' {
				return false
			}
		}
	}
	return host == "ok" || isHostName(host)
}

// isAddrList reports whether s is one or more addr-specs separated by ","
// (the "to" of a mailto: URI, RFC 6068 §2, after percent-decoding).
func isAddrList(s string) bool {
	for {
		addr, rest, more := strings.Cut(s, ",")
		if !isAddrSpec(addr) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isAddrSpec reports whether s is an RFC 5322 addr-spec whose local part
// is a dot-atom or a quoted string and whose domain is a host name in
// A-labels.
func isAddrSpec(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if !isHostName(domain) || strings.IndexByte(domain, '.') < 0 {
		return false
	}
	if local[0] == '"' {
		return isQuotedString(local)
	}
	return isDotAtom(local)
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; charClass[c]&classAtext == 0 && c != '.' {
			return false
		}
	}
	return true
}

func isQuotedString(s string) bool {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return false
	}
	s = s[1 : len(s)-1]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) || s[i] < 0x20 || s[i] > 0x7e {
				return false
			}
		case c == '"' || c < 0x20 || c > 0x7e:
			return false
		}
	}
	return true
}
