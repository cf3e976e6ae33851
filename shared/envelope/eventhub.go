package envelope

import (
	"encoding/json"
	"fmt"
	"time"
)

// NoSequenceNumber is Event.SequenceNumber when the host did not send one. Sequence
// numbers start at 0 in every partition, so zero cannot mean "unknown".
const NoSequenceNumber int64 = -1

// EventBatch is what an eventHubTrigger delivers: events of one partition, in
// partition order.
type EventBatch struct {
	Partition Partition
	Events    []Event
}

// Partition is the trigger's PartitionContext: where the events were read. Fields the
// host did not send are empty.
type Partition struct {
	Namespace     string // FullyQualifiedNamespace, e.g. ns.servicebus.windows.net
	EventHub      string // EventHubName
	ConsumerGroup string
	ID            string // PartitionId
}

// Event is one Event Hubs event: its body and the system properties the host copies
// into Metadata. Properties holds the application properties (numbers as json.Number).
type Event struct {
	Body []byte
	// SequenceNumber is the event's position in its partition, from 0; it never
	// changes, so it identifies the event across redeliveries. NoSequenceNumber when
	// unknown.
	SequenceNumber int64
	// Offset is the service's offset of the event, as text (OffsetString from hosts
	// that send it, else Offset).
	Offset       string
	PartitionKey string
	EnqueuedTime time.Time
	Properties   map[string]any
}

// eventProperties lists the Metadata keys read per event. Like messageProperties it
// is a function so that nothing global can be mutated.
func eventProperties() []property[Event] {
	str := func(dst func(*Event) *string) func(*Event, json.RawMessage) error {
		return func(e *Event, raw json.RawMessage) (err error) {
			*dst(e), err = valueString(raw)
			return err
		}
	}
	return []property[Event]{
		{key: "SequenceNumber", set: func(e *Event, raw json.RawMessage) error {
			if isNull(peelStringLayers(raw)) {
				return nil // stays NoSequenceNumber
			}
			n, err := valueInt64(raw)
			if err != nil {
				return err
			}
			if n < 0 {
				return fmt.Errorf("want a sequence number >= 0, got %d", n)
			}
			e.SequenceNumber = n
			return nil
		}},
		// The host sends Offset as a number in text ("-1" when the service's offset is
		// not one) and, in newer extensions, OffsetString as the service gave it.
		{key: "OffsetString", alias: "Offset", set: str(func(e *Event) *string { return &e.Offset })},
		{key: "PartitionKey", set: str(func(e *Event) *string { return &e.PartitionKey })},
		{key: "EnqueuedTimeUtc", set: func(e *Event, raw json.RawMessage) (err error) {
			e.EnqueuedTime, err = valueTime(raw)
			return err
		}},
		{key: "Properties", set: func(e *Event, raw json.RawMessage) (err error) {
			e.Properties, err = valueProperties(raw)
			return err
		}},
	}
}

// partitionContextKeys are the Metadata keys of the partition context, in order of
// preference: the Event Hubs extension sends the same object under both names (the
// second since version 5), older ones only the first.
var partitionContextKeys = [...]string{"PartitionContext", "TriggerPartitionContext"}

// EventHub decodes the eventHubTrigger binding named binding: a batch ("cardinality":
// "many") or one event. A batch is recognised by the host's *Array metadata keys
// (SequenceNumberArray, ...), as for Service Bus: Data then holds a JSON string with an
// array of body strings, each *Array key one entry per event.
//
// Bodies decode as Service Bus bodies do (a string holding JSON gives that JSON). An
// array whose length differs from the batch's, an entry of the wrong type, a negative
// sequence number or sequence numbers out of partition order reject the whole batch:
// the host never sends those, and a batch id made from them would lose or double-count
// events.
func (r *Request) EventHub(binding string) (*EventBatch, error) {
	raw, err := r.binding(binding)
	if err != nil {
		return nil, err
	}
	b := &EventBatch{}
	if b.Partition, err = r.partition(binding); err != nil {
		return nil, err
	}
	if hasArrays(r, eventProperties()) {
		bodies, err := valueArray(raw)
		if err != nil {
			return nil, reject("envelope: binding %q: event batch (metadata has *Array keys): %v", binding, err)
		}
		b.Events = make([]Event, len(bodies))
		for i, body := range bodies {
			b.Events[i] = Event{Body: messageBody(body), SequenceNumber: NoSequenceNumber}
		}
		if err := setBatch(r, binding, "events", b.Events, eventProperties()); err != nil {
			return nil, err
		}
	} else {
		e := Event{Body: messageBody(raw), SequenceNumber: NoSequenceNumber}
		if err := setSingle(r, binding, &e, eventProperties()); err != nil {
			return nil, err
		}
		b.Events = []Event{e}
	}
	last, lastAt := NoSequenceNumber, -1
	for i, e := range b.Events {
		if e.SequenceNumber == NoSequenceNumber {
			continue
		}
		if last != NoSequenceNumber && e.SequenceNumber <= last {
			return nil, reject("envelope: binding %q: event %d has sequence number %d, not after event %d's %d: a partition's events come in order",
				binding, i, e.SequenceNumber, lastAt, last)
		}
		last, lastAt = e.SequenceNumber, i
	}
	return b, nil
}

// partition reads the partition context; absent (or null) gives the zero Partition.
func (r *Request) partition(binding string) (Partition, error) {
	for _, key := range partitionContextKeys {
		raw, ok := r.Metadata[key]
		if !ok {
			continue
		}
		var w struct{ FullyQualifiedNamespace, EventHubName, ConsumerGroup, PartitionID json.RawMessage }
		present, err := valueInto(raw, &w)
		if err != nil {
			return Partition{}, reject("envelope: binding %q: metadata %s: %v", binding, key, err)
		}
		if !present {
			continue
		}
		var p Partition
		for _, f := range []struct {
			name string
			raw  json.RawMessage
			dst  *string
		}{
			{"FullyQualifiedNamespace", w.FullyQualifiedNamespace, &p.Namespace},
			{"EventHubName", w.EventHubName, &p.EventHub},
			{"ConsumerGroup", w.ConsumerGroup, &p.ConsumerGroup},
			{"PartitionId", w.PartitionID, &p.ID},
		} {
			if *f.dst, err = valueString(f.raw); err != nil {
				return Partition{}, reject("envelope: binding %q: metadata %s.%s: %v", binding, key, f.name, err)
			}
		}
		return p, nil
	}
	return Partition{}, nil
}
