package include

import (
	"bytes"
	"io"
)

// Tag is one start or end tag of a policy document as the scanner reads it (README.md,
// "Scanner rules"): comments, CDATA, processing instructions, text and policy expressions
// are skipped, so a tag written inside them is no tag.
type Tag struct {
	// Name is the element name; it aliases the document.
	Name []byte
	// End is true for an end tag (</name>).
	End bool
	// SelfClosing is true for a start tag that closes itself (<name />).
	SelfClosing bool
	// Start and Stop delimit the tag: its bytes are doc[Start:Stop].
	Start, Stop int

	cur *tagCursor
}

// tagCursor lets a Tag check that its attributes are still the scanner's.
type tagCursor struct {
	s     *scanner
	start int
}

// Attr returns the value of the named attribute of a start tag as it stands in the
// document (quotes off; entities, {{named values}} and expressions not evaluated). It is
// valid only while Tags' callback holds the tag: afterwards it reports false.
func (t Tag) Attr(name string) ([]byte, bool) {
	if t.End || t.cur == nil || t.cur.start != t.Start {
		return nil, false
	}
	return t.cur.s.attr(name)
}

// Tags calls fn with every tag of doc in document order, until fn returns false or the
// document ends; a leading UTF-8 BOM is skipped. It reads tags only: whether end tags
// match their start tags is the caller's to check. Where the scanner cannot read on (an
// unterminated comment or tag, a tangle of unbalanced expressions) Tags stops with an
// ErrMalformed naming the line, after fn has seen the tags before it.
//
// It lets other packages read a customer's policy the way Insert does, without a strict
// XML parser (the monthly triage looks for validate-jwt and <base /> in every scope).
func Tags(doc []byte, fn func(Tag) bool) error {
	s := newScanner(doc)
	if bytes.HasPrefix(doc, bom) {
		s.pos = len(bom)
	}
	cur := &tagCursor{s: s, start: -1}
	defer func() { cur.start = -1 }()
	for {
		t, err := s.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		cur.start = t.start
		tag := Tag{
			Name:        doc[t.name.start:t.name.end],
			End:         t.kind == endTag,
			SelfClosing: t.selfClosing,
			Start:       t.start,
			Stop:        t.end,
			cur:         cur,
		}
		if !fn(tag) {
			return nil
		}
	}
}
