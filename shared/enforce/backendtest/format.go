package backendtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
)

// Format is how the suite edits and compares one kind of document.
type Format struct {
	// Edit returns doc changed in meaning by a mark: distinct marks give distinct
	// documents, and edits compose (theirs, then ours, keeps both).
	Edit func(doc []byte, mark string) ([]byte, error)
	// Same reports whether two documents mean the same: services reformat what they
	// store (indentation, line endings, the fields they own).
	Same func(a, b []byte) bool
}

// JSON is the format of JSON documents with a top-level "tags" object (a WAF policy,
// as ARM and the policy files hold it): an edit sets tags[mark]; comparison is by
// value, ignoring the named keys at the top level and in "properties" (what the
// service owns, like "etag").
func JSON(ignore ...string) Format {
	decode := func(doc []byte) (map[string]any, error) {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if m == nil {
			return nil, errors.New("not a JSON object")
		}
		return m, nil
	}
	return Format{
		Edit: func(doc []byte, mark string) ([]byte, error) {
			m, err := decode(doc)
			if err != nil {
				return nil, err
			}
			tags, _ := m["tags"].(map[string]any)
			if tags == nil {
				tags = map[string]any{}
				m["tags"] = tags
			}
			tags[mark] = mark
			return json.Marshal(m)
		},
		Same: func(a, b []byte) bool {
			ma, errA := decode(a)
			mb, errB := decode(b)
			if errA != nil || errB != nil {
				return false
			}
			for _, m := range []map[string]any{ma, mb} {
				props, _ := m["properties"].(map[string]any)
				for _, k := range ignore {
					delete(m, k)
					delete(props, k)
				}
			}
			return reflect.DeepEqual(ma, mb)
		},
	}
}

// XML is the format of raw XML documents (APIM policies and fragments, kept as text):
// an edit adds the comment <!-- mark --> before the root's closing tag; comparison
// ignores line endings (APIM stores CRLF).
var XML = Format{
	Edit: func(doc []byte, mark string) ([]byte, error) {
		i := bytes.LastIndex(doc, []byte("</"))
		if i < 0 {
			return nil, errors.New("no closing tag to edit before")
		}
		return bytes.Join([][]byte{doc[:i], []byte("<!-- " + mark + " -->\n"), doc[i:]}, nil), nil
	},
	Same: func(a, b []byte) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		lf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
		return bytes.Equal(lf(a), lf(b))
	},
}
