// Package include makes apiguard's one edit in a customer's APIM policy: it inserts
// <include-fragment fragment-id="..." /> into <inbound>, and takes it out again.
//
// The policy is the customer's, and most real policies are not well-formed XML (raw C# in
// attributes and text, {{named values}}), so nothing here parses and re-serializes a
// document. A small tolerant scanner (scan.go) finds byte offsets; the edit is spliced into
// the original bytes, every other byte stays as it was, and Remove undoes Insert byte for
// byte. See README.md for the scanner's rules.
package include

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/apiguard/apiguard/shared/fault"
)

// Errors, for errors.Is; every one comes wrapped in a fault rejection (nothing to retry:
// the same document fails the same way).
var (
	// ErrNoInbound: the document has no <inbound> section to hold the include (a fragment,
	// a root other than <policies>, or <policies> without <inbound>). 422.
	ErrNoInbound = errors.New("no <inbound> section")
	// ErrMalformed: the document cannot be read (an unterminated comment, CDATA or tag, a
	// mismatched end tag). 422.
	ErrMalformed = errors.New("malformed policy document")
	// ErrAmbiguous (also an ErrMalformed): the edit would change how the rest of the
	// document reads (an unbalanced expression or quote before it), so it is not made. 422.
	ErrAmbiguous = fmt.Errorf("%w: the edit changes how the rest of the document reads", ErrMalformed)
	// ErrFragmentID: the fragment id breaks APIM's resource name rules. 400.
	ErrFragmentID = errors.New("invalid fragment id")
)

// maxFragmentID is APIM's length limit for a policy fragment name.
const maxFragmentID = 80

// ValidFragmentID checks id against APIM's rules for a fragment name: letters, digits and
// hyphens, starting with a letter, at most 80 long. A valid id needs no escaping inside
// the attribute Insert writes.
func ValidFragmentID(id string) error {
	switch {
	case id == "":
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("%w: empty", ErrFragmentID))
	case len(id) > maxFragmentID:
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("%w: %q is %d characters long, the limit is %d", ErrFragmentID, id, len(id), maxFragmentID))
	case !isLetter(id[0]):
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("%w: %q does not start with a letter", ErrFragmentID, id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return fault.Rejected(http.StatusBadRequest, fmt.Errorf("%w: %q contains %q (letters, digits and hyphens only)", ErrFragmentID, id, c))
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Insert puts <include-fragment fragment-id="ID" /> once inside the first <inbound> of
// the <policies> root, as a direct child: right after the first direct-child <base />
// (or <base></base>), so what the broader scopes do still comes first, in the order the
// customer chose, else as inbound's first child. Every other byte of doc is unchanged.
//
// The include goes on its own line, with the line ending (CRLF or LF) and indentation of
// its neighbourhood, when the anchor ends its line; otherwise it is written inline right
// after the anchor, so nothing after the anchor moves.
//
// A self-closing <inbound /> is expanded: its "/" is dropped and the include and
// </inbound> follow (see README.md); Remove restores the self-closing tag.
//
// Idempotent: when an include of id (compared case-insensitively, as APIM resource names
// are) already is a direct child of inbound, doc is returned unchanged. An include nested
// deeper (inside <choose>/<when>) does not count: it runs only under its condition, so
// the unconditional include is still added.
//
// Errors: ErrFragmentID (400); ErrNoInbound, ErrMalformed and ErrAmbiguous (422). On
// error doc comes back as it was, changed false: there is nothing to write.
func Insert(doc []byte, fragmentID string) (out []byte, changed bool, err error) {
	out, at, err := insert(doc, fragmentID)
	if err != nil || at < 0 {
		return doc, false, err
	}
	// Whether "@(" opens an expression, or where a mangled value ends, is decided by
	// reading ahead; in a document with an unbalanced expression or quote before the
	// anchor, the added bytes can change how the text before them reads. So check the
	// result: exactly one include, and Remove gives doc back.
	back, sec, err := remove(out, fragmentID)
	if err != nil || len(sec.includes) != 1 || !bytes.Equal(back, doc) {
		return doc, false, ambiguous(doc, at, "added")
	}
	return out, true, nil
}

// insert is Insert without the check of its result. at is the offset of the change, -1
// when there is none.
func insert(doc []byte, id string) (out []byte, at int, err error) {
	sec, err := locate(doc, id)
	if err != nil {
		return doc, -1, err
	}
	if len(sec.includes) > 0 {
		return doc, -1, nil
	}
	el := element(id)
	if sec.selfClosing {
		return sec.expand(el), sec.inbound.start, nil
	}
	p, lead := sec.insertion()
	out = make([]byte, 0, len(doc)+len(lead)+len(el))
	out = append(out, doc[:p]...)
	out = append(out, lead...)
	out = append(out, el...)
	out = append(out, doc[p:]...)
	return out, p, nil
}

// Remove deletes every include of fragmentID (case-insensitive) that is a direct child of
// the first <inbound>: the element, and its whole line when nothing else stands on it (the
// line break before it and the indentation and blanks around it: exactly what Insert adds).
// So Remove(Insert(x)) == x byte for byte, and an include someone else wrote on a line of
// its own loses its line too. An inbound that Insert expanded from <inbound /> is collapsed
// back. Includes nested deeper (in <choose>) are left alone. Absent: doc unchanged.
func Remove(doc []byte, fragmentID string) (out []byte, changed bool, err error) {
	out, sec, err := remove(doc, fragmentID)
	if err != nil || len(sec.includes) == 0 {
		return doc, false, err
	}
	// As in Insert: taking bytes out must not make the rest read differently.
	if n, err := Count(out, fragmentID); err != nil || n != 0 {
		return doc, false, ambiguous(doc, sec.includes[0].start, "removed")
	}
	return out, true, nil
}

// remove is Remove without the check of its result; sec is what it found in doc.
func remove(doc []byte, id string) ([]byte, *section, error) {
	sec, err := locate(doc, id)
	if err != nil {
		return doc, nil, err
	}
	if len(sec.includes) == 0 {
		return doc, sec, nil
	}
	if x, ok := sec.collapse(id); ok {
		return x, sec, nil
	}
	out := make([]byte, 0, len(doc))
	prev := 0
	for _, r := range removals(doc, sec.includes) {
		out = append(out, doc[prev:r.start]...)
		prev = r.end
	}
	return append(out, doc[prev:]...), sec, nil
}

// Count reports how many includes of fragmentID (case-insensitive) are direct children of
// the first <inbound>: the ones Insert and Remove act on. After Insert it is 1 unless the
// document already held more than one.
func Count(doc []byte, fragmentID string) (int, error) {
	sec, err := locate(doc, fragmentID)
	if err != nil {
		return 0, err
	}
	return len(sec.includes), nil
}

// element is the text Insert writes. The id has passed ValidFragmentID: no escaping.
func element(id string) []byte {
	return []byte(`<include-fragment fragment-id="` + id + `" />`)
}

// section is what the scanner found about the first <inbound> of a <policies> document.
type section struct {
	doc         []byte
	bom         bool
	root        token // <policies>
	inbound     token // <inbound ...> or <inbound ... />
	selfClosing bool
	close       span   // </inbound>; zero when self-closing
	base        *span  // first direct-child <base>, whole element
	includes    []span // direct-child includes of the id, whole elements, in order
}

type role uint8

const (
	roleNone role = iota
	roleInbound
	roleBase
	roleInclude
)

type frame struct {
	name  span
	start int
	role  role
}

// locate scans the whole document: an error anywhere (an unterminated comment after
// </inbound> included) refuses the document, since a document the scanner cannot read to
// the end is one it cannot vouch for.
func locate(doc []byte, id string) (*section, error) {
	if err := ValidFragmentID(id); err != nil {
		return nil, err
	}
	sec := &section{doc: doc}
	s := newScanner(doc)
	if bytes.HasPrefix(doc, bom) {
		sec.bom, s.pos = true, len(bom)
	}
	var (
		stack    []frame
		rootName []byte
		haveRoot bool
		haveIn   bool
	)
	for {
		t, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := doc[t.name.start:t.name.end]
		if t.kind == startTag {
			r := roleNone
			switch d := len(stack); {
			case d == 0 && !haveRoot:
				haveRoot, rootName, sec.root = true, name, t
			case d == 1 && !haveIn && string(rootName) == "policies" && string(name) == "inbound":
				haveIn, sec.inbound, sec.selfClosing = true, t, t.selfClosing
				r = roleInbound
			case d == 2 && stack[1].role == roleInbound:
				switch string(name) {
				case "base":
					if sec.base == nil {
						sec.base = &span{t.start, t.end}
						r = roleBase
					}
				case "include-fragment":
					if v, ok := s.attr("fragment-id"); ok && bytes.EqualFold(v, []byte(id)) {
						sec.includes = append(sec.includes, span{t.start, t.end})
						r = roleInclude
					}
				}
			}
			if !t.selfClosing {
				stack = append(stack, frame{name: t.name, start: t.start, role: r})
			}
			continue
		}
		if len(stack) == 0 {
			return nil, malformed(doc, t.start, fmt.Sprintf("end tag </%s> has no start tag", name))
		}
		top := stack[len(stack)-1]
		if open := doc[top.name.start:top.name.end]; !bytes.Equal(open, name) {
			return nil, malformed(doc, t.start, fmt.Sprintf("end tag </%s> does not close <%s> of line %d", name, open, lineOf(doc, top.start)))
		}
		stack = stack[:len(stack)-1]
		switch top.role {
		case roleInbound:
			sec.close = span{t.start, t.end}
		case roleBase:
			sec.base.end = t.end
		case roleInclude:
			sec.includes[len(sec.includes)-1].end = t.end
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return nil, malformed(doc, top.start, fmt.Sprintf("<%s> is never closed", doc[top.name.start:top.name.end]))
	}
	switch {
	case !haveRoot:
		return nil, noInbound("the document has no root element")
	case string(rootName) == "fragment":
		return nil, noInbound("the document is a policy fragment (root <fragment>), which has no sections; include the fragment from a policy instead")
	case string(rootName) != "policies":
		return nil, noInbound(fmt.Sprintf("the root element is <%s>, not <policies>", rootName))
	case !haveIn:
		return nil, noInbound("<policies> has no <inbound> child")
	}
	return sec, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

func noInbound(why string) error {
	return fault.Rejected(http.StatusUnprocessableEntity, fmt.Errorf("%w: %s", ErrNoInbound, why))
}

// ambiguous is the refusal when the edit changes how the rest of the document reads.
func ambiguous(doc []byte, at int, verb string) error {
	return fault.Rejected(http.StatusUnprocessableEntity, fmt.Errorf("%w: line %d: with the include %s here; look for an unbalanced policy expression or quote before it",
		ErrAmbiguous, lineOf(doc, at), verb))
}

func malformed(doc []byte, pos int, what string) error {
	return fault.Rejected(http.StatusUnprocessableEntity, fmt.Errorf("%w: line %d: %s", ErrMalformed, lineOf(doc, pos), what))
}
