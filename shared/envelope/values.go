package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxStringLayers is how many JSON-string wrappings the host is known to add: values are
// serialized and then wrapped once (`"DeliveryCount": "1"`), and Service Bus string
// bodies are serialized twice before that (`"\"{\\\"a\\\":1}\""`).
const maxStringLayers = 2

// peelStringLayers removes up to two layers of JSON-string wrapping from a value the host
// sent. A layer is peeled only when the string's content is itself a JSON document, so a
// plain string ("abc", "2026-01-01T05:59:58") is kept as the JSON string it is, and the
// single-encoded shapes of hand-written samples decode the same as the host's.
//
// Every value that may be host-wrapped goes through here; nothing else unquotes.
func peelStringLayers(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	for range maxStringLayers {
		if len(raw) == 0 || raw[0] != '"' {
			break
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			break
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || !json.Valid(inner) {
			break
		}
		raw = inner
	}
	return raw
}

// isNull reports a value that is absent or JSON null: both mean "not set" here.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// kind names a JSON value's type for error messages, which must not echo payloads.
func kind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// valueString decodes a host-wrapped scalar as text. Numbers and booleans keep their
// literal text: a single-encoded MessageId "12345" peels to a number and must still
// read as "12345".
func valueString(raw json.RawMessage) (string, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return "", nil
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '{', '[':
		return "", fmt.Errorf("want a string, got %s", kind(v))
	default:
		return string(v), nil
	}
}

// valueInt64 decodes a host-wrapped integer ("1", "\"1\"" or 1).
func valueInt64(raw json.RawMessage) (int64, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return 0, nil
	}
	var n int64
	if v[0] == '"' || json.Unmarshal(v, &n) != nil {
		return 0, fmt.Errorf("want an integer, got %s", kind(v))
	}
	return n, nil
}

// valueBool decodes a host-wrapped boolean.
func valueBool(raw json.RawMessage) (bool, error) {
	v := peelStringLayers(raw)
	switch string(v) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("want a boolean, got %s", kind(v))
}

// valueTime decodes a host-wrapped timestamp; see parseTime for the accepted forms.
func valueTime(raw json.RawMessage) (time.Time, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return time.Time{}, nil
	}
	if v[0] != '"' {
		return time.Time{}, fmt.Errorf("want a timestamp string, got %s", kind(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return time.Time{}, err
	}
	return parseTime(s)
}

// valueInto decodes a host-wrapped JSON object into dst (a pointer to a wire struct or a
// map) and reports whether there was one: null is "absent", not an error. Wire structs
// match keys case-insensitively, like encoding/json always does.
func valueInto(raw json.RawMessage, dst any) (bool, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return false, nil
	}
	if v[0] != '{' {
		return false, fmt.Errorf("want an object, got %s", kind(v))
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return false, errors.New(describe(err))
	}
	return true, nil
}

// valueArray decodes a host-wrapped JSON array ("[1,2]" or [1,2]); null gives nil.
func valueArray(raw json.RawMessage) ([]json.RawMessage, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, fmt.Errorf("want an array, got %s", kind(v))
	}
	var a []json.RawMessage
	err := json.Unmarshal(v, &a)
	return a, err
}

// valueProperties decodes a host-wrapped object of application properties. Numbers stay
// json.Number so that 64-bit ids survive.
func valueProperties(raw json.RawMessage) (map[string]any, error) {
	v := peelStringLayers(raw)
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, fmt.Errorf("want an object, got %s", kind(v))
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}

// plainString decodes a string field inside a host object (HTTP request, CloudEvent).
// These are literal strings, not host-wrapped values: peeling them would corrupt a query
// value that really is `"x"`.
func plainString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] != '"' {
		return "", fmt.Errorf("want a string, got %s", kind(raw))
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// dotnetDateTime is how .NET serializes a DateTime of unspecified kind: no fraction kept
// and no zone. The host's clocks are UTC, so that is how it is read.
const dotnetDateTime = "2006-01-02T15:04:05"

// parseTime reads the host's timestamps: RFC 3339 with any fraction (7 digits from .NET)
// and an offset, or a zone-less .NET DateTime taken as UTC. Results are in UTC so that
// values compare with == and print alike whatever offset the host wrote.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	// time.Parse accepts a fraction after the seconds even when the layout has none.
	if t, err := time.Parse(dotnetDateTime, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("want an RFC 3339 or .NET DateTime timestamp, got " + quoteShort(s))
}

// quoteShort quotes s for an error message, cut so a hostile value cannot flood logs.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// describe turns an encoding/json error from a wire struct into "field F: want T, got V"
// so the key at fault is named.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "value"
		}
		return "field " + field + ": want " + goKind(te.Type.Kind().String()) + ", got " + te.Value
	}
	return err.Error()
}

// goKind names a Go kind in JSON terms.
func goKind(k string) string {
	switch k {
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	default:
		return k
	}
}
