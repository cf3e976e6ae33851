package traffic

import "bytes"

// IDPlaceholder replaces an id-like path segment in a template.
const IDPlaceholder = "{id}"

// minHex and minToken are the shortest hex strings and mixed tokens taken as ids.
const (
	minHex   = 16
	minToken = 20
)

// Templatize replaces each path segment that looks like an identifier with "{id}", so
// /orders/48213/items/9f3b2d6c-8e1a-4b90-a5b7-f1e24c1d4a8e becomes
// /orders/{id}/items/{id}. A segment is an id when it is all digits, a UUID, a hex
// string of 16 or more, or a high-entropy token: 20 or more characters of letters,
// digits and - _ . ~ = that mixes letters and digits and changes character class
// (lower, upper, digit) at least once every four characters, which separates
// random tokens (FMuukC2JOJ5HKmLBujjE_BkDo) from slugs (logstash-monitorama-2013).
// A path with no such segment is returned as is.
func Templatize(path string) string {
	if !hasID(path) {
		return path
	}
	return string(appendTemplate(make([]byte, 0, len(path)), path))
}

// hasID reports whether any segment of path is an id.
func hasID[S ~string | ~[]byte](path S) bool {
	for i := 0; i < len(path); {
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		if j > i && isID(path[i:j]) {
			return true
		}
		i = j + 1
	}
	return false
}

// appendTemplate appends path with its id segments replaced.
func appendTemplate[S ~string | ~[]byte](dst []byte, path S) []byte {
	dst, _ = appendTemplated(dst, path)
	return dst
}

// appendTemplated is appendTemplate that also says whether any segment was replaced.
func appendTemplated[S ~string | ~[]byte](dst []byte, path S) ([]byte, bool) {
	changed := false
	for i := 0; i <= len(path); {
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		if j > i && isID(path[i:j]) {
			dst = append(dst, IDPlaceholder...)
			changed = true
		} else {
			dst = append(dst, path[i:j]...)
		}
		if j < len(path) {
			dst = append(dst, '/')
		}
		i = j + 1
	}
	return dst, changed
}

func isID[S ~string | ~[]byte](s S) bool {
	if len(s) == 0 {
		return false
	}
	allDigits, allHex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			allDigits = false
			if !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				allHex = false
				break
			}
		}
	}
	switch {
	case allDigits:
		return true
	case allHex && len(s) >= minHex:
		return true
	case len(s) == 36 && isUUID(s):
		return true
	case len(s) >= minToken:
		return isToken(s)
	}
	return false
}

func isUUID[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// isToken is the high-entropy test: letters and digits mixed, and a change of
// character class within a run at least every four characters.
func isToken[S ~string | ~[]byte](s S) bool {
	const (
		none = iota
		lower
		upper
		digit
	)
	letters, nums, changes := 0, 0, 0
	prev := none
	for i := 0; i < len(s); i++ {
		c := s[i]
		class := none
		switch {
		case c >= 'a' && c <= 'z':
			class, letters = lower, letters+1
		case c >= 'A' && c <= 'Z':
			class, letters = upper, letters+1
		case c >= '0' && c <= '9':
			class, nums = digit, nums+1
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '=':
			prev = none
			continue
		default:
			return false
		}
		if prev != none && class != prev {
			changes++
		}
		prev = class
	}
	return letters > 0 && nums > 0 && changes*4 >= len(s)
}

// splitTarget splits a request target, absolute (https://host/path?query) or not
// (/path?query), into host, path and query; a fragment is dropped. An absolute URL
// with no path has path "/".
func splitTarget(u []byte) (host, path, query []byte) {
	if n := schemeLen(u); n > 0 {
		rest := u[n:]
		end := len(rest)
		for i, c := range rest {
			if c == '/' || c == '?' || c == '#' {
				end = i
				break
			}
		}
		host = rest[:end]
		for i := len(host) - 1; i >= 0; i-- {
			if host[i] == '@' {
				host = host[i+1:]
				break
			}
		}
		u = rest[end:]
		if len(u) == 0 || u[0] != '/' {
			path = slash
		}
	}
	if k := bytes.IndexByte(u, '#'); k >= 0 {
		u = u[:k]
	}
	if k := bytes.IndexByte(u, '?'); k >= 0 {
		u, query = u[:k], u[k+1:]
	}
	if path == nil || len(u) > 0 {
		path = u
	}
	return host, path, query
}

var slash = []byte{'/'}

// schemeLen returns the length of a leading "scheme://", 0 when there is none.
func schemeLen(u []byte) int {
	for i, c := range u {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			if len(u) >= i+3 && u[i+1] == '/' && u[i+2] == '/' {
				return i + 3
			}
			return 0
		default:
			return 0
		}
		if i > 16 {
			return 0
		}
	}
	return 0
}
