package traffic

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// A small, tolerant JSON scanner. The decoders walk each record's members once,
// switch on the lowercased key, read the few values they keep and skip the rest
// without unescaping or allocating. Tolerant means: missing or doubled commas are
// accepted, literals are not spelled out, brackets are only counted while skipping.
// What it refuses is what makes a record unreadable: a missing key, colon or value,
// an unterminated string, input ending inside a record.

// cursor is a position in one buffer and the first syntax error met there.
type cursor struct {
	b   []byte
	i   int
	err string // "" while the input reads well
	at  int    // offset of err
}

func (c *cursor) fail(msg string) {
	if c.err == "" {
		c.err, c.at = msg, c.i
	}
}

// peek returns the byte at the cursor, 0 at the end.
func (c *cursor) peek() byte {
	if c.i < len(c.b) {
		return c.b[c.i]
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) { // compact JSON: one compare
		i++
	}
	return i
}

// scanString reads the string whose opening quote is at b[i]. It returns the offset
// after the closing quote and whether the content holds a backslash (needs
// unescaping); ok is false when the string is not terminated.
//
// Keys and most values are short: they are scanned eight bytes at a time (SWAR), and
// long strings by the vectorized bytes.IndexByte.
func scanString(b []byte, i int) (end int, esc, ok bool) {
	j := i + 1
	for n := min(len(b), j+64); j+8 <= n; j += 8 {
		if q, s := quoteAndBackslash(binary.LittleEndian.Uint64(b[j:])); q|s != 0 {
			if q != 0 && (s == 0 || q&-q < s&-s) { // a quote before any backslash
				return j + bits.TrailingZeros64(q)>>3 + 1, false, true
			}
			return scanEscaped(b, j+bits.TrailingZeros64(s)>>3)
		}
	}
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			if bytes.IndexByte(b[j:], '\\') >= 0 {
				esc = true
			}
			return len(b), esc, false
		}
		q := j + k
		if !esc && bytes.IndexByte(b[j:q], '\\') >= 0 {
			esc = true
		}
		if esc {
			n := 0
			for p := q - 1; p > i && b[p] == '\\'; p-- {
				n++
			}
			if n%2 == 1 { // the quote is escaped
				j = q + 1
				continue
			}
		}
		return q + 1, esc, true
	}
}

// quoteAndBackslash marks (high bit) the bytes of v that may be '"' (q) and '\\'
// (s); the lowest mark of each is exact, those above it may be false.
func quoteAndBackslash(v uint64) (q, s uint64) {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	x := v ^ (lsb * '"')
	y := v ^ (lsb * '\\')
	return (x - lsb) &^ x & msb, (y - lsb) &^ y & msb
}

// scanEscaped finishes scanString for a string with a backslash at b[j].
func scanEscaped(b []byte, j int) (int, bool, bool) {
	for j < len(b) {
		switch b[j] {
		case '\\':
			j += 2
			continue
		case '"':
			return j + 1, true, true
		}
		j++
	}
	return len(b), true, false
}

// delim marks the bytes that end a literal (number, true, false, null).
var delim = [256]bool{',': true, '}': true, ']': true, ':': true, '"': true, '{': true, '[': true,
	' ': true, '\t': true, '\n': true, '\r': true}

// nested marks the bytes skipNested must look at.
var nested = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue skips the value at b[i]; msg is "" on success.
func skipValue(b []byte, i int) (end int, msg string) {
	if i >= len(b) {
		return i, "unexpected end of input: missing value"
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i)
		if !ok {
			return end, "unterminated string"
		}
		return end, ""
	case '{', '[':
		return skipNested(b, i)
	case '}', ']', ',', ':':
		return i, "expected a value"
	}
	j := i
	for j < len(b) && !delim[b[j]] {
		j++
	}
	return j, ""
}

// skipNested skips an object or array by counting brackets outside strings. It does
// not check that brackets pair up: a value the decoder skips need not be well formed,
// only bounded.
func skipNested(b []byte, i int) (int, string) {
	depth := 0
	for i < len(b) {
		c := b[i]
		if !nested[c] {
			i++
			continue
		}
		switch c {
		case '"':
			end, _, ok := scanString(b, i)
			if !ok {
				return len(b), "unterminated string"
			}
			i = end
			continue
		case '{', '[':
			depth++
		default:
			depth--
			if depth == 0 {
				return i + 1, ""
			}
		}
		i++
	}
	return len(b), "unexpected end of input inside an object or array"
}

// kindOf names the JSON value b starts with, for reasons.
func kindOf(b []byte) string {
	switch {
	case b[0] == '{':
		return "a JSON object"
	case b[0] == '[':
		return "a JSON array"
	case b[0] == '"':
		return "a JSON string"
	case bytes.HasPrefix(b, []byte("true")), bytes.HasPrefix(b, []byte("false")):
		return "a JSON boolean"
	case bytes.HasPrefix(b, []byte("null")):
		return "a JSON null"
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		return "a JSON number"
	}
	return "text that is not JSON"
}

// appendUnescaped appends the JSON string content s with its escapes decoded.
// Invalid escapes are kept as written; lone surrogates become U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		k := bytes.IndexByte(s[i:], '\\')
		if k < 0 {
			return append(dst, s[i:]...)
		}
		dst = append(dst, s[i:i+k]...)
		i += k
		if i+1 >= len(s) {
			return append(dst, '\\')
		}
		c := s[i+1]
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := unicodeEscape(s[i:])
			if n == 0 {
				dst = append(dst, '\\', 'u')
				i += 2
				continue
			}
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			dst = append(dst, '\\', c)
		}
		i += 2
	}
	return dst
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at the start of s,
// returning the rune and the bytes used; n is 0 when the escape is malformed.
func unicodeEscape(s []byte) (r rune, n int) {
	r1, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	switch {
	case r1 >= 0xD800 && r1 < 0xDC00:
		if r2, ok := hex4(s[6:]); ok && r2 >= 0xDC00 && r2 < 0xE000 {
			return (r1-0xD800)<<10 | (r2 - 0xDC00) + 0x10000, 12
		}
		return utf8.RuneError, 6
	case r1 >= 0xDC00 && r1 < 0xE000:
		return utf8.RuneError, 6
	}
	return r1, 6
}

// hex4 reads `\uXXXX` at the start of s.
func hex4(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// lowerASCII maps each byte to its ASCII lower case.
var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] += 'a' - 'A'
		}
	}
	return t
}()

// foldLen bounds the keys the decoders compare: none they want is longer.
const foldLen = 64

// member advances to the next member of the object the cursor is in and returns its
// key, lowercased (ASCII), with the cursor on the value. It returns false at the
// closing brace (consumed) or on a syntax error (c.err set). Keys longer than
// foldLen come back as "" (no decoder wants them).
func (d *decoder) member(c *cursor) ([]byte, bool) {
	return d.memberOf(c, anyKey)
}

// memberOf is member for a caller that wants only the keys of want (see wantKeys):
// a key whose length and first letter match none of them comes back as "", without
// being folded.
func (d *decoder) memberOf(c *cursor, want *keySet) ([]byte, bool) {
	if c.err != "" {
		return nil, false
	}
	b := c.b
	i := skipWS(b, c.i)
	for i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	}
	if i >= len(b) {
		c.i = i
		c.fail("unexpected end of input inside an object")
		return nil, false
	}
	switch b[i] {
	case '}':
		c.i = i + 1
		return nil, false
	case '"':
	default:
		c.i = i
		c.fail("expected a key")
		return nil, false
	}
	start := i
	end, esc, ok := scanString(b, i)
	if !ok {
		c.i = i
		c.fail("unterminated key")
		return nil, false
	}
	key := b[i+1 : end-1]
	if esc {
		d.keyBuf = appendUnescaped(d.keyBuf[:0], key)
		key = d.keyBuf
	}
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		c.i = i
		c.fail("expected ':' after a key")
		return nil, false
	}
	i = skipWS(b, i+1)
	c.i = i
	if i >= len(b) {
		c.fail("unexpected end of input: missing value")
		return nil, false
	}
	if n := len(key); n > foldLen || n < 64 && !want.has(key) {
		return d.fold[:0], true
	}
	if esc {
		return foldKey(&d.fold, key, len(key)), true
	}
	return foldKey(&d.fold, b[start+1:], len(key)), true
}

// foldKey lowercases the key src[:n] (n at most foldLen) into buf, eight bytes at a
// time; bytes of src past the key may be read (and folded into buf past n), never
// returned.
func foldKey(buf *[foldLen]byte, src []byte, n int) []byte {
	j := 0
	for ; j+8 <= len(src) && j < n && j+8 <= foldLen; j += 8 {
		binary.LittleEndian.PutUint64(buf[j:], lowerSWAR(binary.LittleEndian.Uint64(src[j:])))
	}
	key := src[:n]
	for ; j < len(key); j++ {
		buf[j] = lowerASCII[key[j]]
	}
	return buf[:len(key)]
}

// lowerSWAR maps the ASCII upper-case letters among the eight bytes of v to lower
// case, leaving every other byte (including non-ASCII ones) as it is.
func lowerSWAR(v uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	h := v &^ msb              // the low seven bits of each byte: adding to them cannot carry out
	ge := h + lsb*(0x80-'A')   // high bit set where h >= 'A'
	gt := h + lsb*(0x80-'Z'-1) // high bit set where h > 'Z'
	m := ge &^ gt &^ v & msb   // ASCII bytes in 'A'..'Z'
	return v | m>>2            // 0x80>>2 == 'a'-'A'
}

// keySet is memberOf's filter for a decoder that switches on keys: the lengths of the
// keys it reads and, per length, their first bytes folded to five bits. Most members
// of a wide record (a Log Analytics row has about 50 columns; a decoder reads 16) are
// turned down by two loads and tests, before their key is folded or compared. Only
// false positives are possible (the switch then falls to its default).
type keySet struct {
	lens  uint64     // bit n: some key has n bytes
	first [64]uint32 // first[n], bit foldFirst(k[0]): some key of n bytes starts with k[0]
}

// foldFirst maps a key's first byte to five bits, upper- and lower-case letters alike.
func foldFirst(c byte) uint32 { return uint32(c|0x20) & 31 }

// has reports whether key (not folded, under 64 bytes) may be one of the set's.
func (s *keySet) has(key []byte) bool {
	n := len(key)
	return s.lens&(1<<n) != 0 && (n == 0 || s.first[n]&(1<<foldFirst(key[0])) != 0)
}

// anyKey wants every key.
var anyKey = func() *keySet {
	s := &keySet{lens: ^uint64(0)}
	for i := range s.first {
		s.first[i] = ^uint32(0)
	}
	return s
}()

// wantKeys is the keySet of keys (lowercase, as the decoders' switches spell them).
// A key of 64 bytes or more is not in the set: memberOf always returns those.
func wantKeys(keys ...string) *keySet {
	return (&keySet{}).with(keys...)
}

// with returns a copy of s with keys added.
func (s *keySet) with(keys ...string) *keySet {
	out := *s
	for _, k := range keys {
		if n := len(k); n < 64 {
			out.lens |= 1 << n
			if n > 0 {
				out.first[n] |= 1 << foldFirst(k[0])
			}
		}
	}
	return &out
}

// skip skips the value at the cursor.
func (c *cursor) skip() {
	end, msg := skipValue(c.b, c.i)
	if msg != "" {
		c.fail(msg)
	}
	c.i = end
}

// text reads the value at the cursor as text: a string's content (unescaped into
// the decoder's scratch when it has escapes), a number or literal as written, nil
// for null, objects and arrays (skipped).
func (d *decoder) text(c *cursor) []byte {
	b, i := c.b, c.i
	switch b[i] {
	case '"':
		end, esc, ok := scanString(b, i)
		if !ok {
			c.fail("unterminated string")
			c.i = end
			return nil
		}
		c.i = end
		s := b[i+1 : end-1]
		if !esc {
			return s
		}
		start := len(d.scratch)
		d.scratch = appendUnescaped(d.scratch, s)
		return d.scratch[start:len(d.scratch):len(d.scratch)]
	case '{', '[':
		c.skip()
		return nil
	}
	end, msg := skipValue(b, i)
	if msg != "" {
		c.fail(msg)
	}
	c.i = end
	v := b[i:end]
	if string(v) == "null" {
		return nil
	}
	return v
}

// number reads an integer written as a number or a string ("200", 200, 200.0).
// Anything unreadable is 0: a bad count must not cost the record.
func (d *decoder) number(c *cursor) int64 {
	n, _ := parseInt(d.text(c))
	return n
}

// nestedDoc reports whether the value at the cursor is an object and, if it is a
// string, returns it unescaped so the caller can walk it as a nested document
// (Azure logs carry properties and headers both ways). max bounds the string.
func (d *decoder) nestedDoc(c *cursor, max int) (doc []byte, isObject bool) {
	switch c.peek() {
	case '{':
		return nil, true
	case '"':
		end, esc, ok := scanString(c.b, c.i)
		if !ok {
			c.fail("unterminated string")
			c.i = end
			return nil, false
		}
		s := c.b[c.i+1 : end-1]
		c.i = end
		if len(s) > max {
			return nil, false
		}
		if esc {
			start := len(d.scratch)
			d.scratch = appendUnescaped(d.scratch, s)
			s = d.scratch[start:len(d.scratch):len(d.scratch)]
		}
		return s, false
	}
	c.skip()
	return nil, false
}

// parseInt reads an optionally signed decimal integer, ignoring a fraction; ok is
// false when b holds no digits or other bytes.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		b = b[1:]
	}
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<62)/10 {
			return 0, false
		}
		n = n*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, false
	}
	if i < len(b) {
		if b[i] != '.' {
			return 0, false
		}
		for _, c := range b[i+1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
	}
	if neg {
		n = -n
	}
	return n, true
}
