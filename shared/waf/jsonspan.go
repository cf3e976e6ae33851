package waf

import (
	"bytes"
	"encoding/json"
	"errors"
)

// A small scanner over JSON that json.Valid has accepted: it finds where values start
// and end so WithOwned can splice bytes, without decoding (or copying) what apiguard
// does not own. It still checks bounds and structure, so a wrong input gives an error,
// never a panic.

var errSyntax = errors.New("malformed JSON")

// skipSpace returns the offset of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errSyntax
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errSyntax
	}
	// A number or a literal: up to the next delimiter.
	j := i
	for j < len(data) && !isDelim(data[j]) {
		j++
	}
	if j == i {
		return 0, errSyntax
	}
	return j, nil
}

// skipString returns the offset just past the string starting at data[i] ('"').
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// member is one key of a JSON object and its value's span.
type member struct {
	key              string
	keyStart, keyEnd int // the key's quoted span
	start, end       int // the value's span
}

func lastMember(ms []member, key string) (member, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i], true
		}
	}
	return member{}, false
}

// object reads the object starting at data[at]: its members with their value spans,
// and the offset of its closing brace.
func object(data []byte, at int) ([]member, int, error) {
	if at >= len(data) || data[at] != '{' {
		return nil, 0, errors.New("not an object")
	}
	var ms []member
	i := skipSpace(data, at+1)
	if i < len(data) && data[i] == '}' {
		return nil, i, nil
	}
	for i < len(data) {
		end, err := skipValue(data, i)
		if err != nil || data[i] != '"' {
			return nil, 0, errSyntax
		}
		key, err := unquote(data[i:end])
		if err != nil {
			return nil, 0, err
		}
		keyStart, keyEnd := i, end
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, 0, errSyntax
		}
		start := skipSpace(data, i+1)
		if end, err = skipValue(data, start); err != nil {
			return nil, 0, err
		}
		ms = append(ms, member{key: key, keyStart: keyStart, keyEnd: keyEnd, start: start, end: end})
		i = skipSpace(data, end)
		if i >= len(data) {
			break
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return ms, i, nil
		default:
			return nil, 0, errSyntax
		}
	}
	return nil, 0, errSyntax
}

// array reads the array starting at data[at]: its elements' spans and the offset of
// its closing bracket.
func array(data []byte, at int) ([][2]int, int, error) {
	if at >= len(data) || data[at] != '[' {
		return nil, 0, errors.New("not an array")
	}
	var spans [][2]int
	i := skipSpace(data, at+1)
	if i < len(data) && data[i] == ']' {
		return nil, i, nil
	}
	for i < len(data) {
		end, err := skipValue(data, i)
		if err != nil {
			return nil, 0, err
		}
		spans = append(spans, [2]int{i, end})
		i = skipSpace(data, end)
		if i >= len(data) {
			break
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return spans, i, nil
		default:
			return nil, 0, errSyntax
		}
	}
	return nil, 0, errSyntax
}

// unquote decodes a JSON string; most keys have no escapes and cost no decoding.
func unquote(b []byte) (string, error) {
	if len(b) < 2 {
		return "", errSyntax
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}
