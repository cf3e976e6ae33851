package probe

import "strings"

// Normalisation turns the many spellings of a marker into one, so that the data
// lists "../" once instead of "%2e%2e%2f", "%252e%252e%252f", "..%c0%af", "..\" and
// so on. It runs on the path and the query, never on the user agent, and only when
// the field holds a byte that it would change (see specialBytes): most API requests take
// the fast path and are scanned as they are. README.md lists the steps and why.
//
// The result is never longer than the input, which lets the matcher normalise into
// a fixed buffer on its stack.

// specialBytes marks the bytes that normalisation may change: bit 1 in paths, bit 2 in
// queries ('+' is a space only in a query).
var specialBytes = func() (t [256]uint8) {
	for _, c := range []byte{'%', '\\', '*', ' ', '\t', '\n', '\v', '\f', '\r'} {
		t[c] = 3
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = 3
	}
	t['+'] = 2
	return t
}()

// inspect reports whether normalisation may change s, and whether s holds a '%'.
func inspect(s string, query bool) (special, percent bool) {
	bit := uint8(1)
	if query {
		bit = 2
	}
	for i := 0; i < len(s); i++ {
		if specialBytes[s[i]]&bit != 0 {
			return true, strings.IndexByte(s[i:], '%') >= 0
		}
	}
	return false, false
}

// normalise writes the normal form of src into dst, which must be at least as long
// as src, and returns its length.
func normalise(dst []byte, src string, query bool) int {
	n := decode(dst, src)
	return fold(dst[:n], query)
}

// decode percent-decodes src twice, as decode(decode(src)) would, in one pass: a
// '%' that the first level yields (from "%25" or a stray '%') takes the next two
// symbols of the first level as its hex digits. IIS-style "%uXXXX" is decoded at
// either level.
func decode(dst []byte, src string) int {
	w := 0
	for i := 0; i < len(src); {
		c, n := decode2(src, i)
		dst[w] = c
		w++
		i += n
	}
	return w
}

func decode2(s string, i int) (byte, int) {
	c, n := decode1(s, i)
	if c != '%' {
		return c, n
	}
	j := i + n
	if j >= len(s) {
		return c, n
	}
	h1, n1 := decode1(s, j)
	if j+n1 < len(s) {
		h2, n2 := decode1(s, j+n1)
		if v, ok := hexPair(h1, h2); ok {
			return v, n + n1 + n2
		}
	}
	if h1|0x20 == 'u' {
		k, cp := j+n1, rune(0)
		for range 4 {
			if k >= len(s) {
				return c, n
			}
			d, m := decode1(s, k)
			v, ok := unhex(d)
			if !ok {
				return c, n
			}
			cp, k = cp<<4|rune(v), k+m
		}
		return wide(cp), k - i
	}
	return c, n
}

// decode1 reads one symbol of one level of percent-encoding at s[i].
func decode1(s string, i int) (byte, int) {
	c := s[i]
	if c != '%' {
		return c, 1
	}
	if i+2 < len(s) {
		if v, ok := hexPair(s[i+1], s[i+2]); ok {
			return v, 3
		}
	}
	if i+5 < len(s) && s[i+1]|0x20 == 'u' {
		cp := rune(0)
		for k := i + 2; k < i+6; k++ {
			v, ok := unhex(s[k])
			if !ok {
				return '%', 1
			}
			cp = cp<<4 | rune(v)
		}
		return wide(cp), 6
	}
	return '%', 1
}

// wide maps a %uXXXX code point to one byte: ASCII as itself, the slash, backslash
// and dot look-alikes that path handling in some servers folds to ASCII as those, and
// anything else to 0x80, a stand-in that no pattern contains and that counts as a
// word character.
func wide(cp rune) byte {
	switch {
	case cp < 0x80:
		return byte(cp)
	case cp == 0x2215, cp == 0x2216, cp == 0xff0f, cp == 0xff3c:
		return '/'
	case cp == 0xff0e:
		return '.'
	}
	return 0x80
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}

func hexPair(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

// fold does the byte-level steps in place on decoded text: look-alikes to ASCII,
// backslash to slash, '+' to space in a query, SQL comments to a space, runs of white
// space to one space and no space after a shell or SQL separator. It returns the new
// length.
func fold(b []byte, query bool) int {
	w := 0
	versioned := false // inside a MySQL /*!...*/ comment, whose content runs
	closeAt := -1      // position of the '*' of the "*/" the last search found
	closeEnd := -1     // and the position just past it
	noClose := len(b)  // no "*/" starts at or after this position
	put := func(c byte) {
		if c == ' ' {
			if w > 0 && (b[w-1] == ' ' || isSeparator(b[w-1])) {
				return
			}
		}
		b[w] = c
		w++
	}
	for r := 0; r < len(b); {
		c, n := mapped(b, r, query)
		if c == '/' && r+n < len(b) {
			if c2, n2 := mapped(b, r+n, query); c2 == '*' {
				open := r + n + n2
				end := commentClose(b, open, query, &closeAt, &closeEnd, &noClose)
				if end >= 0 {
					if open < len(b) && b[open] == '!' {
						// MySQL runs a /*!NNNNN ... */ comment's content: drop the
						// opener and its version, keep the content.
						r = open + 1
						for r < len(b) && b[r] >= '0' && b[r] <= '9' {
							r++
						}
						versioned = true
					} else {
						r = end
					}
					put(' ')
					continue
				}
			}
		}
		if c == '*' && versioned && r+n < len(b) {
			if c2, n2 := mapped(b, r+n, query); c2 == '/' {
				versioned = false
				r += n + n2
				put(' ')
				continue
			}
		}
		put(c)
		r += n
	}
	return w
}

// commentClose returns the position just past the first "*/" at or after from, or -1.
// It remembers what it found so that a text of many openers stays linear. The memo
// is keyed on where the "*/" starts: in "/*!a/*/", the "*/" found for the first
// opener starts before the second opener's from and does not close it.
func commentClose(b []byte, from int, query bool, closeAt, closeEnd, noClose *int) int {
	if from >= *noClose {
		return -1
	}
	if *closeAt >= from {
		return *closeEnd
	}
	for r := from; r < len(b); {
		c, n := mapped(b, r, query)
		if c == '*' && r+n < len(b) {
			if c2, n2 := mapped(b, r+n, query); c2 == '/' {
				*closeAt, *closeEnd = r, r+n+n2
				return *closeEnd
			}
		}
		r += n
	}
	*noClose = from
	return -1
}

// mapped reads one character at b[r] after the look-alike and separator mappings:
// overlong UTF-8 encodings of '.', '/' and '\', the full-width and mathematical
// slash and dot, backslash, white space and, in a query, '+'.
func mapped(b []byte, r int, query bool) (byte, int) {
	c := b[r]
	switch {
	case c == '\\':
		return '/', 1
	case c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
		return ' ', 1
	case c == '+' && query:
		return ' ', 1
	case c < 0x80:
		return c, 1
	}
	rest := b[r:]
	if len(rest) >= 2 {
		switch string(rest[:2]) {
		case "\xc0\xae":
			return '.', 2
		case "\xc0\xaf", "\xc1\x9c", "\xc1\x1c":
			return '/', 2
		case "\xc2\xa0":
			return ' ', 2
		}
	}
	if len(rest) >= 3 {
		switch string(rest[:3]) {
		case "\xe0\x80\xae", "\xef\xbc\x8e":
			return '.', 3
		case "\xe0\x80\xaf", "\xe0\x81\x9c", "\xef\xbc\x8f", "\xef\xbc\xbc", "\xe2\x88\x95", "\xe2\x88\x96":
			return '/', 3
		}
	}
	return c, 1
}

// isSeparator: after these a space is dropped, so "; cat" reads as ";cat" and
// "union ( select" as "union (select".
func isSeparator(c byte) bool {
	return c == ';' || c == '|' || c == '&' || c == '`' || c == '('
}
