package include

import (
	"bytes"
	"fmt"
	"io"
)

// The scanner reads an APIM policy the way the gateway has to: as XML whose attribute
// values and text may hold raw C# (policy expressions) and {{named values}}. It reports
// start and end tags with byte offsets and nothing else; comments, CDATA, processing
// instructions, declarations, text and expressions are skipped. It never builds a tree
// and never re-serializes: callers edit the original bytes at the offsets it reports.

type kind uint8

const (
	startTag kind = iota + 1
	endTag
)

// span is a byte range [start, end) of the document.
type span struct{ start, end int }

// token is one tag: start is its '<', end is just past its '>'.
type token struct {
	kind        kind
	start, end  int
	name        span
	selfClosing bool
}

type attr struct{ name, value span }

type scanner struct {
	doc   []byte
	pos   int
	attrs []attr // attributes of the last start tag, reused between tags

	retries int // recovery attempts left for the current tag

	// budget is how many more bytes of code the scanner may read. Whether "@(" opens an
	// expression is found by reading ahead, so unbalanced expressions could make the scan
	// quadratic; real documents read each expression once or twice.
	budget int
}

// newScanner returns a scanner of doc with a budget for code of 16 readings of the whole
// document, and a floor for small ones.
func newScanner(doc []byte) *scanner {
	return &scanner{doc: doc, budget: 16*len(doc) + 1<<16}
}

// maxNesting bounds bracket nesting inside one policy expression. Real expressions nest a
// handful deep; the bound keeps a hostile document from recursing without limit.
const maxNesting = 512

// next returns the next tag, or io.EOF when the document ends.
func (s *scanner) next() (token, error) {
	b := s.doc
	i := s.pos
	for i < len(b) {
		c := b[i]
		if c == '@' {
			// A policy expression in text is opaque: @{ ... } may hold "</x>" in a string
			// or As<JObject>() that would otherwise read as tags. If it does not balance,
			// the '@' was only text.
			j, ok := s.skipExpression(i)
			if s.exhausted() {
				return token{}, s.tangled(i)
			}
			if ok {
				i = j
				continue
			}
			i++
			continue
		}
		if c != '<' {
			i++
			continue
		}
		if i+1 >= len(b) {
			i++
			continue
		}
		switch d := b[i+1]; {
		case d == '!':
			j, err := s.skipBang(i)
			if err != nil {
				return token{}, err
			}
			i = j
		case d == '?':
			k := bytes.Index(b[i+2:], []byte("?>"))
			if k < 0 {
				return token{}, s.malformed(i, "processing instruction is never closed (no \"?>\")")
			}
			i += 2 + k + 2
		case d == '/':
			return s.endTag(i)
		case isNameStart(d):
			return s.startTag(i)
		default:
			// "<" before a space, digit, "=" ...: a C# comparison written as text.
			i++
		}
	}
	s.pos = i
	return token{}, io.EOF
}

// skipBang skips a comment, a CDATA section or a declaration starting at b[i] == '<'.
func (s *scanner) skipBang(i int) (int, error) {
	b := s.doc
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		k := bytes.Index(b[i+4:], []byte("-->"))
		if k < 0 {
			return 0, s.malformed(i, "comment is never closed (no \"-->\")")
		}
		return i + 4 + k + 3, nil
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		k := bytes.Index(b[i+9:], []byte("]]>"))
		if k < 0 {
			return 0, s.malformed(i, "CDATA section is never closed (no \"]]>\")")
		}
		return i + 9 + k + 3, nil
	}
	// <!DOCTYPE ...> and friends: up to the '>' outside quotes and an internal subset.
	depth := 0
	for j := i + 2; j < len(b); j++ {
		switch b[j] {
		case '"', '\'':
			k := bytes.IndexByte(b[j+1:], b[j])
			if k < 0 {
				return 0, s.malformed(i, "declaration is never closed")
			}
			j += 1 + k
		case '[':
			depth++
		case ']':
			depth--
		case '>':
			if depth <= 0 {
				return j + 1, nil
			}
		}
	}
	return 0, s.malformed(i, "declaration is never closed")
}

func (s *scanner) startTag(i int) (token, error) {
	b := s.doc
	j := i + 1
	for j < len(b) && isNameChar(b[j]) {
		j++
	}
	t := token{kind: startTag, start: i, name: span{i + 1, j}}
	s.attrs = s.attrs[:0]
	s.retries = maxRetries
	return s.attributes(t, j, true)
}

// Recovery limits (see attributes): how far a mangled expression value may run, and how
// many other endings are tried per tag, which keeps the cost linear in the tag's length.
const (
	maxRecovery = 4096
	maxRetries  = 64
)

// attributes reads the attributes of start tag t from j to the tag's end.
//
// Recovery: an expression value whose own quotes were mangled by some tool (an unescaped
// quote inside, e.g. Variables["latlong="""] in a published snippet) makes the rest of the
// tag unreadable. When that happens, and recover is set, the value is tried ending at each
// later quote, up to the next '<', and the first reading that makes the rest of the tag
// well-formed wins. The rest is then read without recovery, so one value per reading is
// recovered.
func (s *scanner) attributes(t token, j int, recover bool) (token, error) {
	b := s.doc
	for {
		k := skipSpace(b, j)
		if k >= len(b) {
			return token{}, s.unterminated(t)
		}
		switch b[k] {
		case '>':
			t.end = k + 1
			s.pos = t.end
			return t, nil
		case '/':
			if k+1 >= len(b) {
				return token{}, s.unterminated(t)
			}
			if b[k+1] != '>' {
				return token{}, s.malformed(k, fmt.Sprintf("unexpected \"/\" in tag <%s>", s.text(t.name)))
			}
			t.end, t.selfClosing = k+2, true
			s.pos = t.end
			return t, nil
		}
		if !isNameStart(b[k]) {
			return token{}, s.malformed(k, fmt.Sprintf("unexpected %q in tag <%s>", b[k], s.text(t.name)))
		}
		a := attr{name: span{start: k}}
		for k < len(b) && isNameChar(b[k]) {
			k++
		}
		a.name.end = k
		k = skipSpace(b, k)
		if k >= len(b) {
			return token{}, s.unterminated(t)
		}
		if b[k] != '=' {
			return token{}, s.malformed(k, fmt.Sprintf("attribute %s of <%s> has no value", s.text(a.name), s.text(t.name)))
		}
		k = skipSpace(b, k+1)
		if k >= len(b) {
			return token{}, s.unterminated(t)
		}
		q := b[k]
		if q != '"' && q != '\'' {
			return token{}, s.malformed(k, fmt.Sprintf("value of attribute %s of <%s> is not quoted", s.text(a.name), s.text(t.name)))
		}
		end, ok := s.attrValueEnd(k+1, q)
		if s.exhausted() {
			return token{}, s.tangled(k)
		}
		if !ok {
			return token{}, s.malformed(k, fmt.Sprintf("value of attribute %s of <%s> is never closed", s.text(a.name), s.text(t.name)))
		}
		a.value = span{k + 1, end}
		s.attrs = append(s.attrs, a)
		if e := skipSpace(b, k+1); recover && e < len(b) && b[e] == '@' {
			n := len(s.attrs)
			tt, err := s.attributes(t, end+1, true)
			if err == nil {
				return tt, nil
			}
			for c := end + 1; c < len(b) && c < end+maxRecovery && b[c] != '<' && s.retries > 0; c++ {
				if b[c] != q {
					continue
				}
				s.retries--
				s.attrs = s.attrs[:n]
				s.attrs[n-1].value.end = c
				if tt, err := s.attributes(t, c+1, false); err == nil {
					return tt, nil
				}
			}
			return token{}, err
		}
		j = end + 1
	}
}

// attrValueEnd returns the index of the quote q closing a value that starts at i. A value
// that is a policy expression may contain q itself (value="@(h.GetValueOrDefault("x",""))",
// as APIM accepts), so the expression is skipped as code first; when that does not end at
// a closing quote, the value ends at the first q, as in plain XML.
func (s *scanner) attrValueEnd(i int, q byte) (int, bool) {
	b := s.doc
	if e := skipSpace(b, i); e < len(b) && b[e] == '@' {
		if x, ok := s.skipExpression(e); ok {
			if y := skipSpace(b, x); y < len(b) && b[y] == q {
				return y, true
			}
		}
	}
	k := bytes.IndexByte(b[i:], q)
	if k < 0 {
		return 0, false
	}
	return i + k, true
}

func (s *scanner) endTag(i int) (token, error) {
	b := s.doc
	j := i + 2
	if j >= len(b) {
		return token{}, s.malformed(i, "end tag is never closed")
	}
	if !isNameStart(b[j]) {
		return token{}, s.malformed(i, "\"</\" is not followed by an element name")
	}
	for j < len(b) && isNameChar(b[j]) {
		j++
	}
	t := token{kind: endTag, start: i, name: span{i + 2, j}}
	j = skipSpace(b, j)
	if j >= len(b) {
		return token{}, s.malformed(i, fmt.Sprintf("end tag </%s> is never closed", s.text(t.name)))
	}
	if b[j] != '>' {
		return token{}, s.malformed(j, fmt.Sprintf("unexpected %q in end tag </%s>", b[j], s.text(t.name)))
	}
	t.end = j + 1
	s.pos = t.end
	return t, nil
}

// attr returns the value of the named attribute of the last start tag.
func (s *scanner) attr(name string) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(s.doc[a.name.start:a.name.end]) == name {
			return s.doc[a.value.start:a.value.end], true
		}
	}
	return nil, false
}

func (s *scanner) text(sp span) string { return string(s.doc[sp.start:sp.end]) }

func (s *scanner) unterminated(t token) error {
	return s.malformed(t.start, fmt.Sprintf("tag <%s> is never closed (no \">\")", s.text(t.name)))
}

func (s *scanner) tangled(pos int) error {
	return s.malformed(pos, "too many unbalanced policy expressions to read the document")
}

func (s *scanner) malformed(pos int, what string) error {
	return malformed(s.doc, pos, what)
}

// skipExpression skips a policy expression @( ... ) or @{ ... } starting at b[i] == '@'
// and returns the index just past it; ok is false when b[i:] is not one.
func (s *scanner) skipExpression(i int) (int, bool) {
	b := s.doc
	if i+1 >= len(b) {
		return i, false
	}
	switch b[i+1] {
	case '(':
		return s.skipCode(i+2, ')', 0)
	case '{':
		return s.skipCode(i+2, '}', 0)
	}
	return i, false
}

// exhausted reports whether the scanner has spent its budget for reading code (see
// scanner.budget).
func (s *scanner) exhausted() bool { return s.budget < 0 }

// skipCode skips C# up to the bracket close at nesting depth zero and returns the index
// just past it. Brackets inside string and character literals and comments do not count.
// Generic angle brackets and comparison operators need no care: only (), {} and [] nest.
func (s *scanner) skipCode(i int, close byte, depth int) (int, bool) {
	b := s.doc
	if depth > maxNesting {
		return i, false
	}
	ok := true
	for i < len(b) {
		if s.budget--; s.budget < 0 {
			return i, false
		}
		c := b[i]
		switch {
		case c == close:
			return i + 1, true
		case c == '(':
			i, ok = s.skipCode(i+1, ')', depth+1)
		case c == '{':
			i, ok = s.skipCode(i+1, '}', depth+1)
		case c == '[':
			i, ok = s.skipCode(i+1, ']', depth+1)
		case c == ')' || c == '}' || c == ']':
			return i, false
		case c == '"':
			i, ok = s.skipString(i+1, false, false, depth)
		case c == '@' && at(b, i+1) == '"':
			i, ok = s.skipString(i+2, true, false, depth)
		case c == '@' && at(b, i+1) == '$' && at(b, i+2) == '"':
			i, ok = s.skipString(i+3, true, true, depth)
		case c == '$' && at(b, i+1) == '"':
			i, ok = s.skipString(i+2, false, true, depth)
		case c == '$' && at(b, i+1) == '@' && at(b, i+2) == '"':
			i, ok = s.skipString(i+3, true, true, depth)
		case c == '\'':
			i = skipChar(b, i)
		case c == '/' && at(b, i+1) == '/':
			k := bytes.IndexByte(b[i:], '\n')
			if k < 0 {
				return len(b), false
			}
			s.budget -= k
			i += k + 1
		case c == '/' && at(b, i+1) == '*':
			k := bytes.Index(b[i+2:], []byte("*/"))
			if k < 0 {
				return len(b), false
			}
			s.budget -= k
			i += 2 + k + 2
		default:
			i++
		}
		if !ok {
			return i, false
		}
	}
	return i, false
}

// skipString skips a C# string literal whose opening quote ends just before i: regular
// ("\"" escapes, one line), verbatim (@"": "" escapes) and interpolated ($"{expr}").
func (s *scanner) skipString(i int, verbatim, interpolated bool, depth int) (int, bool) {
	b := s.doc
	for i < len(b) {
		if s.budget--; s.budget < 0 {
			return i, false
		}
		c := b[i]
		switch {
		case c == '"':
			if verbatim && at(b, i+1) == '"' {
				i += 2
				continue
			}
			return i + 1, true
		case c == '\\' && !verbatim:
			i += 2
		case c == '\n' && !verbatim:
			return i, false
		case c == '{' && interpolated:
			if at(b, i+1) == '{' {
				i += 2
				continue
			}
			var ok bool
			if i, ok = s.skipCode(i+1, '}', depth+1); !ok {
				return i, false
			}
		default:
			i++
		}
	}
	return i, false
}

// skipChar skips a character literal at b[i], an apostrophe: 'x', 'é', '\u0041' or an
// escaped apostrophe. One that does not close as a literal is taken as a lone byte rather
// than failing the whole expression.
func skipChar(b []byte, i int) int {
	if at(b, i+1) == '\\' {
		for k := i + 3; k < len(b) && k < i+12; k++ {
			if b[k] == '\'' {
				return k + 1
			}
			if b[k] == '\n' {
				break
			}
		}
		return i + 1
	}
	// One character: an ASCII byte or a UTF-8 sequence of up to four bytes.
	for k := i + 2; k < len(b) && k <= i+5; k++ {
		if b[k] == '\'' {
			return k + 1
		}
		if b[i+1] < 0x80 {
			break
		}
	}
	return i + 1
}

func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || c >= 0x80
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.'
}

// lineOf returns the 1-based line of offset pos, for error messages.
func lineOf(doc []byte, pos int) int {
	if pos > len(doc) {
		pos = len(doc)
	}
	return 1 + bytes.Count(doc[:pos], []byte("\n"))
}
