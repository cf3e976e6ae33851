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

// messageProperties lists the system properties read from Metadata: the only Metadata
// read at all, since the host also copies a JSON body's top-level fields there. It is a
// function, not a package variable, so that nothing global can be mutated.
func messageProperties() []property[Message] {
	str := func(dst func(*Message) *string) func(*Message, json.RawMessage) error {
		return func(m *Message, raw json.RawMessage) (err error) {
			*dst(m), err = valueString(raw)
			return err
		}
	}
	return []property[Message]{
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
	if hasArrays(r, messageProperties()) {
		return r.serviceBusBatch(binding, raw)
	}
	m := Message{Body: messageBody(raw)}
	if err := setSingle(r, binding, &m, messageProperties()); err != nil {
		return nil, err
	}
	return []Message{m}, nil
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
	if err := setBatch(r, binding, "messages", msgs, messageProperties()); err != nil {
		return nil, err
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
