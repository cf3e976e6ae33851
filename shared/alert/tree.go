package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of any JSON document Decode reads (the body and every
// double-encoded document inside it). Real alerts nest about ten levels deep (ARM
// supportingEvidence is the deepest); the bound keeps recursion and hostile input cheap.
const maxDepth = 64

// kind is the JSON type of a node.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	default:
		return "null"
	}
}

// node is one parsed JSON value. Decode needs what encoding/json's generic decoding
// loses: the exact bytes of every value (Incident.Raw), object keys in document order
// (first-seen address order, deterministic alias choice) and case-insensitive lookup.
type node struct {
	kind  kind
	raw   []byte   // the value's bytes exactly as in the document
	str   string   // decoded text of a string
	keys  []string // object keys, in document order
	elems []*node  // object values (parallel to keys) or array items
}

// field returns the value of the first of names present in an object, matching keys
// case-insensitively. Names are tried in order, so the first name is the preferred
// alias; among keys equal but for case, the first in the document wins.
func (n *node) field(names ...string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for _, name := range names {
		for i, k := range n.keys {
			if strings.EqualFold(k, name) {
				return n.elems[i]
			}
		}
	}
	return nil
}

// text returns the first of names that holds a non-blank string (or a number, kept as
// written), trimmed. Alerts are not strict about types, so a numeric id still reads.
func (n *node) text(names ...string) string {
	if n == nil || n.kind != kindObject {
		return ""
	}
	for _, name := range names {
		for i, k := range n.keys {
			if !strings.EqualFold(k, name) {
				continue
			}
			if s := n.elems[i].scalar(); s != "" {
				return s
			}
		}
	}
	return ""
}

// scalar is the trimmed text of a string or number node, else "".
func (n *node) scalar() string {
	if n == nil {
		return ""
	}
	switch n.kind {
	case kindString:
		return strings.TrimSpace(n.str)
	case kindNumber:
		return string(n.raw)
	}
	return ""
}

// has reports whether an object has a key equal to name but for case.
func (n *node) has(name string) bool { return n.field(name) != nil }

// parseDocument reads one complete JSON document: the body, or a document that was
// itself encoded as a JSON string or base64. Errors name the problem and where it is.
//
// A UTF-8 byte order mark before the document is skipped: some Windows tools write one
// and RFC 8259 lets a reader ignore it. Keys that repeat within one object are refused:
// readers differ on which one counts (encoding/json takes the last), so a repeated key
// is a way to show a proxy one value and apiguard another.
func parseDocument(b []byte) (*node, error) {
	b = bytes.TrimPrefix(b, utf8BOM)
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty, no JSON value")
	}
	if at, ok := depthWithin(b, maxDepth); !ok {
		return nil, fmt.Errorf("JSON nested deeper than %d levels at %s", maxDepth, position(b, at))
	}
	if !json.Valid(b) {
		var v json.RawMessage
		return nil, describeJSONError(b, json.Unmarshal(b, &v))
	}
	p := parser{b: b}
	p.space()
	n, err := p.value(0)
	if err != nil {
		if dup, ok := errors.AsType[*duplicateKeyError](err); ok {
			return nil, fmt.Errorf("duplicate key %q in one object at %s: readers disagree on which value counts, so the alert is refused", dup.key, position(b, int64(dup.at)))
		}
		return nil, err
	}
	return n, nil
}

// utf8BOM is the byte order mark some editors and PowerShell write before JSON.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// describeJSONError turns an encoding/json error into a message with the line, column
// and byte offset of the problem, so whoever sent the body can find it.
func describeJSONError(b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at %s: %v", position(b, faultAt(se.Offset)), se)
	case errors.As(err, &te):
		what := "value"
		if te.Field != "" {
			what = "field " + te.Field
		}
		return fmt.Errorf("malformed JSON at %s: %s is a JSON %s, want %v", position(b, faultAt(te.Offset)), what, te.Value, te.Type)
	case err != nil:
		return fmt.Errorf("malformed JSON: %v", err)
	}
	return errors.New("malformed JSON")
}

// position renders the 0-based byte offset at as "line L, column C (byte offset N)",
// line and column 1-based and counted in bytes, as Go's own tools count them.
func position(b []byte, at int64) string {
	at = min(max(at, 0), int64(len(b)))
	before := b[:at]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d (byte offset %d)", line, col, at)
}

// faultAt converts an encoding/json error Offset to the offset of the byte at fault.
// The classic implementation counts the bytes read up to and including it (at the end
// of input that is the last byte); see syntaxOffsetIsAfter.
func faultAt(offset int64) int64 {
	if syntaxOffsetIsAfter {
		return offset - 1
	}
	return offset
}

// depthWithin reports whether no array or object in b nests deeper than limit and, if
// one does, the offset of the bracket that crossed it. It runs before validation so a
// hostile body costs one linear pass, whatever its nesting.
func depthWithin(b []byte, limit int) (int64, bool) {
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return int64(i), false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return 0, true
}

// parser builds nodes from a document json.Valid has accepted. It still checks what
// it reads and fails rather than panics, so a disagreement with the validator is an
// error, not a crash.
type parser struct {
	b []byte
	i int
}

var errParse = errors.New("malformed JSON")

// duplicateKeyError reports a key that repeats in one object, at the offset of its
// second occurrence.
type duplicateKeyError struct {
	key string
	at  int
}

func (e *duplicateKeyError) Error() string { return fmt.Sprintf("duplicate key %q", e.key) }

// smallObject is the number of keys up to which a repeated key is looked for by
// comparing with the keys before it; larger objects use a set. Alerts' objects hold a
// few dozen keys at most, and a hostile one with 100,000 keys stays linear.
const smallObject = 32

// checkDuplicate reports whether k, read at offset at, repeats a key of n. Keys are
// compared after unescaping ("a" and "\u0061" are one key) and exactly: keys that differ
// in case are distinct JSON keys (Defender's extendedProperties hold such pairs).
func (n *node) checkDuplicate(k string, at int, set map[string]struct{}) (map[string]struct{}, error) {
	if len(n.keys) < smallObject {
		for _, prev := range n.keys {
			if prev == k {
				return set, &duplicateKeyError{key: k, at: at}
			}
		}
		return set, nil
	}
	if set == nil {
		set = make(map[string]struct{}, 2*len(n.keys))
		for _, prev := range n.keys {
			set[prev] = struct{}{}
		}
	}
	if _, dup := set[k]; dup {
		return set, &duplicateKeyError{key: k, at: at}
	}
	set[k] = struct{}{}
	return set, nil
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if p.i >= len(p.b) {
		return nil, errParse
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d levels", maxDepth)
	}
	start := p.i
	var n *node
	var err error
	switch c := p.b[p.i]; {
	case c == '{':
		n, err = p.object(depth)
	case c == '[':
		n, err = p.array(depth)
	case c == '"':
		var s string
		s, err = p.string()
		n = &node{kind: kindString, str: s}
	case c == 't' || c == 'f':
		n, err = p.literal(kindBool)
	case c == 'n':
		n, err = p.literal(kindNull)
	default:
		n, err = p.number()
	}
	if err != nil {
		return nil, err
	}
	n.raw = p.b[start:p.i]
	return n, nil
}

func (p *parser) object(depth int) (*node, error) {
	n := &node{kind: kindObject}
	p.i++ // {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return n, nil
	}
	var set map[string]struct{}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, errParse
		}
		at := p.i
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if set, err = n.checkDuplicate(k, at, set); err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, errParse
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, k)
		n.elems = append(n.elems, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, errParse
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return n, nil
		default:
			return nil, errParse
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	n := &node{kind: kindArray}
	p.i++ // [
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return n, nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, errParse
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return n, nil
		default:
			return nil, errParse
		}
	}
}

// string reads a string token. The common case (no escapes, valid UTF-8) is a plain
// copy; anything else goes through encoding/json so escapes and invalid UTF-8 are
// handled exactly as the standard library does.
func (p *parser) string() (string, error) {
	start := p.i
	p.i++ // opening quote
	plain := true
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '\\':
			plain = false
			p.i += 2
		case c == '"':
			p.i++
			tok := p.b[start:p.i]
			body := tok[1 : len(tok)-1]
			if plain && utf8.Valid(body) {
				return string(body), nil
			}
			var s string
			if err := json.Unmarshal(tok, &s); err != nil {
				return "", errParse
			}
			return s, nil
		default:
			p.i++
		}
	}
	return "", errParse
}

func (p *parser) literal(k kind) (*node, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
			p.i += len(lit)
			return &node{kind: k}, nil
		}
	}
	return nil, errParse
}

func (p *parser) number() (*node, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	if p.i == start {
		return nil, errParse
	}
	return &node{kind: kindNumber}, nil
}
