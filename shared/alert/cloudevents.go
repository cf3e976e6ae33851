package alert

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Event types Decode gives meaning to.
const (
	// ValidationEventType is Event Grid's subscription handshake: its data carries the
	// code the endpoint must echo as {"validationResponse": code}.
	ValidationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent"
	// GraphAlertCreatedType is the CloudEvent Microsoft Graph change notifications
	// deliver for a new security alert; its data names the alert only by id.
	GraphAlertCreatedType = "Microsoft.Graph.AlertCreated"
)

// isCloudEvent reports a structured-mode CloudEvent: the one attribute every version
// requires and no alert has.
func isCloudEvent(n *node) bool { return n.has("specversion") }

// isEventGridEvent reports an event in the Event Grid event schema.
func isEventGridEvent(n *node) bool {
	return n.has("eventType") && (n.has("data") || n.has("dataVersion"))
}

// isGraphNotification reports a Microsoft Graph change notification: it names the
// changed resource in resourceData and says how it changed. Inside an event whose type
// is a Graph one (eventType), resourceData alone is enough.
func isGraphNotification(n *node, eventType string) bool {
	if !isKind(n.field("resourceData"), kindObject) {
		return false
	}
	if len(eventType) > len("Microsoft.Graph.") && strings.EqualFold(eventType[:len("Microsoft.Graph.")], "Microsoft.Graph.") {
		return true
	}
	return n.has("changeType") || n.has("resource") || n.has("subscriptionId")
}

// binaryEvent returns the type of a binary-mode CloudEvent, whose attributes travel
// as ce-* headers and whose body is the data, and whether the request is one.
func binaryEvent(h http.Header) (typ string, ok bool) {
	if h == nil || strings.TrimSpace(h.Get("ce-specversion")) == "" {
		return "", false
	}
	return strings.TrimSpace(h.Get("ce-type")), true
}

// eventData returns an event's data as a document. Structured CloudEvents carry it as
// JSON ("data"), as JSON text in a string ("data"), or base64 ("data_base64"); Event
// Grid events carry it in "data".
func eventData(n *node) (*node, error) {
	if b64 := n.field("data_base64"); b64 != nil && b64.kind != kindNull {
		if b64.kind != kindString {
			return nil, fmt.Errorf("data_base64 is a JSON %s, want base64 text", b64.kind)
		}
		raw, err := decodeBase64(b64.str)
		if err != nil {
			return nil, errors.New("data_base64 is not valid base64")
		}
		doc, err := parseDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("data_base64 does not hold a JSON alert: %v", err)
		}
		return doc, nil
	}
	data := n.field("data")
	if data == nil || data.kind == kindNull {
		return nil, errors.New("carries no data")
	}
	doc, err := decodeString(data)
	if err != nil {
		return nil, fmt.Errorf("data is a string that does not hold JSON: %v", err)
	}
	return doc, nil
}

// decodeBase64 accepts padded and unpadded standard base64, which is what the
// CloudEvents JSON format names; senders differ on padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// maxStringLayers bounds how many times a value encoded as a JSON string inside a JSON
// string is unwrapped: once is the norm, twice happens when a sender encodes again.
const maxStringLayers = 2

// decodeString returns the document a JSON string holds, unwrapping up to
// maxStringLayers layers; any other value is returned as is.
func decodeString(n *node) (*node, error) {
	for range maxStringLayers {
		if n.kind != kindString {
			return n, nil
		}
		doc, err := parseDocument([]byte(n.str))
		if err != nil {
			return nil, err
		}
		n = doc
	}
	if n.kind == kindString {
		return nil, fmt.Errorf("JSON encoded as a string more than %d times", maxStringLayers)
	}
	return n, nil
}

// graphNotificationID is the id of the alert a change notification is about:
// resourceData.id, else the last segment of resource ("security/alerts_v2/<id>").
func graphNotificationID(n *node) string {
	if id := n.field("resourceData").text("id"); id != "" {
		return id
	}
	res := strings.TrimRight(n.text("resource"), "/")
	return strings.TrimSpace(res[strings.LastIndexByte(res, '/')+1:])
}

// graphNotificationType names a change notification by its event type when it came in
// a CloudEvent, else by its changeType as Graph's CloudEvents would.
func graphNotificationType(n *node, eventType string) string {
	if eventType != "" {
		return eventType
	}
	ct := n.text("changeType")
	if ct == "" {
		return "Microsoft.Graph.Alert"
	}
	r, size := utf8.DecodeRuneInString(ct)
	return "Microsoft.Graph.Alert" + string(unicode.ToUpper(r)) + ct[size:]
}

// graphNotificationIncident is the incident a change notification stands for. It
// carries the alert's Graph id only, so its ID is the one the full alert item will
// get when it is fetched ("graph:" + id) and the two meet as one incident.
func graphNotificationIncident(n *node, eventType string) (Incident, error) {
	id := graphNotificationID(n)
	if id == "" {
		return Incident{}, errors.New("Graph change notification carries no resourceData.id")
	}
	return Incident{
		ID:        incidentID("", "", id, nil),
		AlertType: graphNotificationType(n, eventType),
		Addresses: []Address{},
		Shape:     ShapeGraph,
		Raw:       bytes.Clone(n.raw),
	}, nil
}
