package include

import "bytes"

// Layout: where the include goes, which whitespace comes with it, and how Remove finds
// that whitespace again. The rules are built so Remove can tell from the output alone what
// Insert added; README.md lists them with examples.

// insertion returns the offset where Insert puts the element and the bytes that go
// before it: nothing (inline) or a line break and indentation (own line).
//
// Own line when the anchor (<base /> or the <inbound> start tag) ends its line, so the
// element can start a new line that Remove drops whole. One exception keeps Remove exact:
// with no <base /> and an inbound holding only whitespace, the element goes inline, because
// the own-line form of that case is exactly what an expanded <inbound /> looks like.
func (sec *section) insertion() (int, []byte) {
	doc := sec.doc
	p := sec.inbound.end
	if sec.base != nil {
		p = sec.base.end
	}
	nl := lineBreakAfter(doc, p)
	if nl == nil || sec.base == nil && onlySpace(doc[sec.inbound.end:sec.close.start]) {
		return p, nil
	}
	// After any trailing blanks of the anchor's line, which stay where they were.
	at := p
	for doc[at] == ' ' || doc[at] == '\t' {
		at++
	}
	lead := make([]byte, 0, len(nl)+16)
	lead = append(lead, nl...)
	return at, append(lead, sec.childIndent(p)...)
}

// childIndent is the indentation of a new direct child of inbound placed on the line after
// p: the <base /> line's when base starts its line, else that of the next line's content,
// else inbound's own plus one level.
func (sec *section) childIndent(p int) []byte {
	doc := sec.doc
	if sec.base != nil {
		if ind, ok := sec.lineIndent(sec.base.start); ok {
			return ind
		}
	}
	if q := skipSpace(doc, p); q != sec.close.start {
		a := q
		for a > p && (doc[a-1] == ' ' || doc[a-1] == '\t') {
			a--
		}
		return doc[a:q]
	}
	ind, _ := sec.lineIndent(sec.inbound.start)
	return append(append([]byte(nil), ind...), sec.unit()...)
}

// unit is one level of indentation: inbound's indentation beyond that of <policies> when
// it has some, else a tab for a tab-indented inbound, else four spaces.
func (sec *section) unit() []byte {
	in, okIn := sec.lineIndent(sec.inbound.start)
	root, okRoot := sec.lineIndent(sec.root.start)
	if okIn && okRoot && len(in) > len(root) && bytes.HasPrefix(in, root) {
		return in[len(root):]
	}
	if bytes.IndexByte(in, '\t') >= 0 {
		return []byte("\t")
	}
	return []byte("    ")
}

// lineIndent returns the spaces and tabs before pos when only they stand between pos and
// the start of its line; ok is false when something else does.
func (sec *section) lineIndent(pos int) (ind []byte, ok bool) {
	doc := sec.doc
	a := pos
	for a > 0 && (doc[a-1] == ' ' || doc[a-1] == '\t') {
		a--
	}
	if a == 0 || doc[a-1] == '\n' || sec.bom && a == len(bom) {
		return doc[a:pos], true
	}
	return nil, false
}

// expand rewrites a self-closing <inbound ... /> as <inbound ... > + el + </inbound>,
// dropping only the "/": on three lines when the tag starts its own line, else on one with
// a space either side of el. Both forms put whitespace before el, which Insert never does
// in an open inbound without <base /> (see insertion), so Remove can recognise them.
func (sec *section) expand(el []byte) []byte {
	doc := sec.doc
	t := sec.inbound // doc[t.end-2:t.end] == "/>"
	out := make([]byte, 0, len(doc)+len(el)+32)
	out = append(out, doc[:t.end-2]...)
	out = append(out, '>')
	ind, ok := sec.lineIndent(t.start)
	if a := t.start - len(ind); ok && a > 0 && doc[a-1] == '\n' {
		nl := []byte("\n")
		if a > 1 && doc[a-2] == '\r' {
			nl = []byte("\r\n")
		}
		out = append(out, nl...)
		out = append(out, ind...)
		out = append(out, sec.unit()...)
		out = append(out, el...)
		out = append(out, nl...)
		out = append(out, ind...)
	} else {
		out = append(out, ' ')
		out = append(out, el...)
		out = append(out, ' ')
	}
	out = append(out, "</inbound>"...)
	return append(out, doc[t.end:]...)
}

// collapse undoes expand: when inbound holds nothing but one include of id and whitespace,
// it rebuilds the self-closing tag and keeps it only if inserting into it gives doc back
// byte for byte. An inbound written that way by hand is thus collapsed too; both mean an
// empty inbound.
func (sec *section) collapse(id string) ([]byte, bool) {
	doc := sec.doc
	if sec.selfClosing || sec.base != nil || len(sec.includes) != 1 {
		return nil, false
	}
	inc := sec.includes[0]
	if !onlySpace(doc[sec.inbound.end:inc.start]) || !onlySpace(doc[inc.end:sec.close.start]) ||
		string(doc[sec.close.start:sec.close.end]) != "</inbound>" {
		return nil, false
	}
	x := make([]byte, 0, len(doc))
	x = append(x, doc[:sec.inbound.end-1]...)
	x = append(x, "/>"...)
	x = append(x, doc[sec.close.end:]...)
	if again, at, err := insert(x, id); err != nil || at < 0 || !bytes.Equal(again, doc) {
		return nil, false
	}
	return x, true
}

// removals returns the byte ranges Remove deletes for the includes incs (in document
// order). A line holding nothing but some of them and blanks goes whole, with the line
// break before it; any other include goes alone. Insert's own-line form is exactly "line
// break, indentation, element" before the line break that ended the anchor's line, so this
// takes back what Insert added and nothing else; its inline form shares its line with the
// anchor, so only the element goes.
func removals(doc []byte, incs []span) []span {
	var out []span
	for i := 0; i < len(incs); {
		ls := bytes.LastIndexByte(doc[:incs[i].start], '\n') + 1
		le := len(doc)
		if k := bytes.IndexByte(doc[incs[i].end:], '\n'); k >= 0 {
			le = incs[i].end + k
		}
		j := i + 1
		for j < len(incs) && incs[j].start < le {
			j++
		}
		group := incs[i:j]
		i = j
		content := le // the line without its line break
		if le < len(doc) && le > ls && doc[le-1] == '\r' {
			content--
		}
		if ls > 0 && le < len(doc) && onlyBlanksBut(doc[ls:content], ls, group) {
			from := ls - 1
			if from > 0 && doc[from-1] == '\r' {
				from--
			}
			out = append(out, span{from, content})
			continue
		}
		out = append(out, group...)
	}
	return out
}

// onlyBlanksBut reports whether line (starting at offset off) is spaces and tabs apart
// from the spans skip.
func onlyBlanksBut(line []byte, off int, skip []span) bool {
	for i := 0; i < len(line); i++ {
		if len(skip) > 0 && off+i == skip[0].start {
			i = skip[0].end - off - 1
			skip = skip[1:]
			continue
		}
		if line[i] != ' ' && line[i] != '\t' {
			return false
		}
	}
	return true
}

// lineBreakAfter returns the line break ("\n" or "\r\n") ending the line at p when only
// spaces and tabs come before it, else nil.
func lineBreakAfter(doc []byte, p int) []byte {
	for p < len(doc) && (doc[p] == ' ' || doc[p] == '\t') {
		p++
	}
	switch {
	case p < len(doc) && doc[p] == '\n':
		return doc[p : p+1]
	case p+1 < len(doc) && doc[p] == '\r' && doc[p+1] == '\n':
		return doc[p : p+2]
	}
	return nil
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}
