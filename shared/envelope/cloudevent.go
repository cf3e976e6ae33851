package envelope

import (
	"bytes"
	"encoding/json"
	"time"
)

// CloudEvent is an Event Grid trigger's event in CloudEvents 1.0 terms. Extensions holds
// every attribute without a field here (extension attributes, and also dataschema and
// data_base64), as received.
type CloudEvent struct {
	SpecVersion, ID, Source, Type, Subject, DataContentType string
	Time                                                    time.Time
	Data                                                    json.RawMessage
	Extensions                                              map[string]json.RawMessage
}

// CloudEvent decodes the eventGridTrigger binding named binding. Events in the CloudEvents
// schema are read as they are; events in the Event Grid schema (eventType, eventTime,
// topic, ...) are mapped onto the same fields so that handlers need not care which
// schema the subscription uses. A mapped event has an empty SpecVersion.
func (r *Request) CloudEvent(binding string) (*CloudEvent, error) {
	var attrs map[string]json.RawMessage
	if err := r.bindingInto(binding, "event", &attrs); err != nil {
		return nil, err
	}
	_, isCloudEvent := attrs["specversion"]
	if _, ok := attrs["eventType"]; !isCloudEvent && !ok {
		return nil, reject("envelope: binding %q: neither a CloudEvent (specversion) nor an Event Grid event (eventType)", binding)
	}
	names := schemaNames(isCloudEvent)
	ev := &CloudEvent{}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{names.specVersion, &ev.SpecVersion},
		{names.id, &ev.ID},
		{names.source, &ev.Source},
		{names.typ, &ev.Type},
		{names.subject, &ev.Subject},
		{names.dataContentType, &ev.DataContentType},
	} {
		if f.key == "" {
			continue
		}
		v, err := plainString(attrs[f.key])
		if err != nil {
			return nil, reject("envelope: binding %q: event attribute %s: %v", binding, f.key, err)
		}
		*f.dst = v
	}
	required := []string{names.id, names.typ}
	if isCloudEvent {
		required = append(required, names.specVersion, names.source)
	}
	for _, k := range required {
		if v, _ := plainString(attrs[k]); v == "" {
			return nil, reject("envelope: binding %q: event attribute %s is required", binding, k)
		}
	}
	if isCloudEvent && ev.SpecVersion != "1.0" {
		// 0.3 and other versions name their attributes differently: reading them as 1.0
		// would half-believe the event.
		return nil, reject("envelope: binding %q: specversion %q: only CloudEvents 1.0 is read", binding, cut(ev.SpecVersion, 16))
	}
	var err error
	if ev.Time, err = valueTime(attrs[names.time]); err != nil {
		return nil, reject("envelope: binding %q: event attribute %s: %v", binding, names.time, err)
	}
	if d, ok := attrs[names.data]; ok {
		ev.Data = bytes.Clone(d) // as sent: a string here is the event's data, not a wrapping
	}
	for k, v := range attrs {
		if !names.known(k) {
			if ev.Extensions == nil {
				ev.Extensions = map[string]json.RawMessage{}
			}
			ev.Extensions[k] = bytes.Clone(v)
		}
	}
	return ev, nil
}

// eventNames are the attribute names of one event schema. An empty name means the
// schema has no such attribute.
type eventNames struct {
	specVersion, id, source, typ, subject, dataContentType, time, data string
}

// schemaNames returns the attribute names of the CloudEvents schema, or of Event Grid's
// own schema, where topic plays the part of source.
func schemaNames(cloudEvents bool) eventNames {
	if cloudEvents {
		return eventNames{"specversion", "id", "source", "type", "subject", "datacontenttype", "time", "data"}
	}
	return eventNames{"", "id", "topic", "eventType", "subject", "", "eventTime", "data"}
}

func (n eventNames) known(k string) bool {
	switch k {
	case "":
		return false
	case n.specVersion, n.id, n.source, n.typ, n.subject, n.dataContentType, n.time, n.data:
		return true
	}
	return false
}

// cut keeps at most n bytes of s for an error message.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
