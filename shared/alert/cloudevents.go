package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
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
// requires and no alert has. A key spelled in another case counts, so that such an
// object is refused as a CloudEvent rather than read as an alert.
func isCloudEvent(n *node) bool { return n.has("specversion") }

// specVersion is the only CloudEvents version accepted. Event Grid and Microsoft Graph
// deliver 1.0; 0.3 is superseded and reads data differently.
const specVersion = event.CloudEventsVersionV1

// checkSpecVersion refuses a specversion other than the string "1.0", naming what came.
// The SDK would accept 0.3 and reports a number or null only as a parse error.
func checkSpecVersion(n *node) error {
	for i, k := range n.keys {
		if !strings.EqualFold(k, "specversion") {
			continue
		}
		if k != "specversion" {
			return fmt.Errorf("attribute %q: CloudEvents attribute names are lower case", k)
		}
		return specVersionOK(n.elems[i])
	}
	return errors.New("no specversion")
}

func specVersionOK(v *node) error {
	switch {
	case v.kind == kindNull:
		return fmt.Errorf("specversion is null, want %q", specVersion)
	case v.kind != kindString:
		return fmt.Errorf("specversion is a JSON %s (%s), want the string %q", v.kind, quoteCut(string(v.raw)), specVersion)
	case v.str == "":
		return fmt.Errorf("specversion is empty, want %q", specVersion)
	case v.str != specVersion:
		return fmt.Errorf("specversion %q is not supported, want %q", quoteCut(v.str), specVersion)
	}
	return nil
}

// cloudEvent reads a structured-mode CloudEvent with the CloudEvents SDK, which checks
// the required attributes (id, source, type) and their formats and decodes data: JSON,
// JSON text in a string, or data_base64. It returns the event's type and its data as
// a document.
func cloudEvent(n *node) (string, *node, error) {
	if err := checkSpecVersion(n); err != nil {
		return "", nil, err
	}
	var e event.Event
	if err := e.UnmarshalJSON(n.raw); err != nil {
		return "", nil, fmt.Errorf("not a valid CloudEvent: %s", describeCEError(err))
	}
	if err := e.Validate(); err != nil {
		return "", nil, fmt.Errorf("not a valid CloudEvent: %s", describeCEError(err))
	}
	raw := e.Data()
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return e.Type(), nil, errors.New("carries no data")
	}
	// JSON data is the very bytes of the "data" member, already parsed (and checked for
	// repeated keys) with the body: use that tree rather than parse it again.
	doc, err := n.field("data"), error(nil)
	if e.DataBase64 || doc == nil || !bytes.Equal(doc.raw, bytes.TrimSpace(raw)) {
		doc, err = parseDocument(raw)
	}
	if err == nil {
		doc, err = decodeString(doc)
	}
	if err != nil {
		what := "data"
		if e.DataBase64 {
			what = "data_base64"
		}
		return e.Type(), nil, fmt.Errorf("%s does not hold a JSON alert: %v", what, err)
	}
	return e.Type(), doc, nil
}

// binaryEvent reads the attributes of a binary-mode CloudEvent, which travel as ce-*
// headers while the body is the data, with the CloudEvents SDK. ok reports whether the
// request is one (a ce-specversion header is there); err why it is refused.
func binaryEvent(h http.Header) (typ string, ok bool, err error) {
	if h == nil {
		return "", false, nil
	}
	versions := h.Values("ce-specversion")
	if len(versions) == 0 {
		return "", false, nil
	}
	if len(versions) > 1 {
		return "", true, errors.New("binary CloudEvent: ce-specversion header given more than once")
	}
	if err := specVersionOK(&node{kind: kindString, str: versions[0], raw: []byte(versions[0])}); err != nil {
		return "", true, fmt.Errorf("binary CloudEvent: %w", err)
	}
	// The body is the data and Decode reads it itself; the SDK sees only the headers.
	msg := cehttp.NewMessage(h, http.NoBody)
	if msg.ReadEncoding() != binding.EncodingBinary {
		return "", true, fmt.Errorf("binary CloudEvent: ce-specversion header with the Content-Type of a structured event (%s)", quoteCut(h.Get("Content-Type")))
	}
	e, err := binding.ToEvent(context.Background(), msg)
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		return "", true, fmt.Errorf("binary CloudEvent: %s", describeCEError(err))
	}
	return e.Type(), true, nil
}

// describeCEError renders an SDK error deterministically: a ValidationError is a map,
// whose own message lists its fields in random order.
func describeCEError(err error) string {
	var ve event.ValidationError
	if !errors.As(err, &ve) {
		return strings.TrimSpace(err.Error())
	}
	fields := make([]string, 0, len(ve))
	for k := range ve {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	parts := make([]string, len(fields))
	for i, k := range fields {
		parts[i] = k + ": " + strings.TrimSpace(ve[k].Error())
	}
	return strings.Join(parts, "; ")
}

// maxValidationCode bounds the Event Grid validation code echoed back. Event Grid
// documents the code as a string and sends a GUID (36 characters, hex digits and
// dashes); 64 characters of letters, digits and dashes leave room for another GUID
// spelling and keep the answer from reflecting whatever a sender puts there.
const maxValidationCode = 64

// checkValidationCode refuses a code that is no Event Grid validation code.
func checkValidationCode(code string) error {
	if len(code) > maxValidationCode {
		return fmt.Errorf("validationCode of %d bytes: Event Grid sends a GUID, at most %d characters are echoed", len(code), maxValidationCode)
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return fmt.Errorf("validationCode holds %q at byte %d: Event Grid sends a GUID (letters, digits, dashes)", c, i)
		}
	}
	return nil
}

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

// eventGridData returns an Event Grid event's data as a document: JSON, or JSON text
// in a string.
func eventGridData(n *node) (*node, error) {
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

// maxOriginLength is the longest DNS name.
const maxOriginLength = 253

// CheckWebhookOrigin checks the WebHook-Request-Origin of a CloudEvents webhook
// abuse-protection request (OPTIONS) before it is echoed as WebHook-Allowed-Origin.
// The CloudEvents webhook spec makes it a DNS name ("eventgrid.azure.net"), so
// anything else (a URL, blanks, control bytes, a megabyte of text) is refused rather
// than reflected into a response header.
func CheckWebhookOrigin(origin string) error {
	if origin == "" {
		return errors.New("WebHook-Request-Origin is empty")
	}
	if len(origin) > maxOriginLength {
		return fmt.Errorf("WebHook-Request-Origin of %d bytes is longer than a DNS name (%d)", len(origin), maxOriginLength)
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return fmt.Errorf("WebHook-Request-Origin holds %q at byte %d: want a DNS name such as eventgrid.azure.net", c, i)
		}
	}
	return nil
}
