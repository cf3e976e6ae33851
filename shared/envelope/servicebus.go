package envelope

import (
	"bytes"
	"encoding/json"
	"time"
)

// Message is one Service Bus message: its body and the system properties the host copies
// into Metadata. Properties holds the application properties (numbers as json.Number).
type Message struct {
	Body           []byte
	MessageID      string
	SessionID      string
	ContentType    string
	CorrelationID  string
	Subject        string
	LockToken      string
	DeliveryCount  int
	SequenceNumber int64
	EnqueuedTime   time.Time
	Properties     map[string]any
}

// messageProperty maps one Metadata key (and its older alias, if any) to a Message field.
// A batch carries the same keys with an "Array" suffix.
type messageProperty struct {
	key, alias string
	set        func(m *Message, raw json.RawMessage) error
}

// messageProperties lists the system properties read from Metadata: the only Metadata
// read at all, since the host also copies a JSON body's top-level fields there. It is a
// function, not a package variable, so that nothing global can be mutated.
func messageProperties() []messageProperty {
	str := func(dst func(*Message) *string) func(*Message, json.RawMessage) error {
		return func(m *Message, raw json.RawMessage) (err error) {
			*dst(m), err = valueString(raw)
			return err
		}
	}
	return []messageProperty{
		{key: "MessageId", set: str(func(m *Message) *string { return &m.MessageID })},
		{key: "SessionId", set: str(func(m *Message) *string { return &m.SessionID })},
		{key: "ContentType", set: str(func(m *Message) *string { return &m.ContentType })},
		{key: "CorrelationId", set: str(func(m *Message) *string { return &m.CorrelationID })},
		{key: "Subject", alias: "Label", set: str(func(m *Message) *string { return &m.Subject })},
		{key: "LockToken", set: str(func(m *Message) *string { return &m.LockToken })},
		{key: "DeliveryCount", set: func(m *Message, raw json.RawMessage) error {
			n, err := valueInt64(raw)
			m.DeliveryCount = int(n)
			return err
		}},
		{key: "SequenceNumber", set: func(m *Message, raw json.RawMessage) (err error) {
			m.SequenceNumber, err = valueInt64(raw)
			return err
		}},
		{key: "EnqueuedTimeUtc", alias: "EnqueuedTime", set: func(m *Message, raw json.RawMessage) (err error) {
			m.EnqueuedTime, err = valueTime(raw)
			return err
		}},
		{key: "ApplicationProperties", alias: "UserProperties", set: func(m *Message, raw json.RawMessage) (err error) {
			m.Properties, err = valueProperties(raw)
			return err
		}},
	}
}

// lookup returns the first of key, alias present in Metadata, with the key found.
func (r *Request) lookup(suffix string, p messageProperty) (string, json.RawMessage, bool) {
	for _, k := range []string{p.key, p.alias} {
		if k == "" {
			continue
		}
		if raw, ok := r.Metadata[k+suffix]; ok {
			return k + suffix, raw, true
		}
	}
	return "", nil, false
}

// ServiceBus decodes the serviceBusTrigger binding named binding: one message, or a batch
// when the function has "cardinality": "many". A batch is recognised by the host's
// *Array metadata keys (MessageIdArray, ...), not by the body's shape, because a single
// message whose body is a JSON array looks like a batch once unwrapped.
//
// Bodies may be JSON strings one or two layers deep: a string holding JSON yields those
// JSON bytes, a plain string yields its text, and a JSON value yields its bytes. In a
// batch, each *Array key must have one entry per message; a length mismatch rejects the
// whole batch, as the host delivers and settles it as one.
func (r *Request) ServiceBus(binding string) ([]Message, error) {
	raw, err := r.binding(binding)
	if err != nil {
		return nil, err
	}
	if r.isBatch() {
		return r.serviceBusBatch(binding, raw)
	}
	m := Message{Body: messageBody(raw)}
	for _, p := range messageProperties() {
		key, v, ok := r.lookup("", p)
		if !ok {
			continue
		}
		if err := p.set(&m, v); err != nil {
			return nil, reject("envelope: binding %q: metadata %s: %v", binding, key, err)
		}
	}
	return []Message{m}, nil
}

// isBatch reports whether Metadata has any of the system properties as a batch *Array.
func (r *Request) isBatch() bool {
	for _, p := range messageProperties() {
		if _, _, ok := r.lookup("Array", p); ok {
			return true
		}
	}
	return false
}

func (r *Request) serviceBusBatch(binding string, raw json.RawMessage) ([]Message, error) {
	bodies, err := valueArray(raw)
	if err != nil {
		return nil, reject("envelope: binding %q: batch (metadata has *Array keys): %v", binding, err)
	}
	msgs := make([]Message, len(bodies))
	for i, b := range bodies {
		msgs[i].Body = messageBody(b)
	}
	for _, p := range messageProperties() {
		key, v, ok := r.lookup("Array", p)
		if !ok {
			continue
		}
		values, err := valueArray(v)
		if err != nil {
			return nil, reject("envelope: binding %q: metadata %s: %v", binding, key, err)
		}
		if values == nil {
			continue // null: the host had nothing for this property
		}
		if len(values) != len(msgs) {
			return nil, reject("envelope: binding %q: metadata %s has %d entries, the batch has %d messages",
				binding, key, len(values), len(msgs))
		}
		for i, e := range values {
			if err := p.set(&msgs[i], e); err != nil {
				return nil, reject("envelope: binding %q: metadata %s[%d]: %v", binding, key, i, err)
			}
		}
	}
	return msgs, nil
}

// messageBody turns one body as the host sent it into the message's bytes. A bare JSON
// null is "no body"; a null reached by unwrapping was the text "null" and is kept.
func messageBody(raw json.RawMessage) []byte {
	if isNull(raw) {
		return nil
	}
	v := peelStringLayers(raw)
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return []byte(s)
		}
	}
	return bytes.Clone(v) // not aliasing the request: callers may keep or change a body
}
