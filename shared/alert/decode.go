package alert

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
)

// MaxAlerts is the most alerts one body may carry. Defender sends one alert per call
// and exports batch a few dozen; a body over the limit is refused whole so one request
// cannot hold the function for minutes.
const MaxAlerts = 1000

// maxEnvelopes bounds how many envelopes (CloudEvent, Event Grid event, list, Logic
// App output) may wrap one alert. Real deliveries use one or two.
const maxEnvelopes = 4

// Decode reads one request body into a Batch: a single alert or a JSON array of them,
// in any of the shapes Defender produces (ARM, workflow automation, export, Log
// Analytics row, Microsoft Graph), bare or inside CloudEvents (structured, batch or,
// when header carries ce-* attributes, binary mode) or Event Grid events. header may
// be nil (the offline plan command has none).
//
// A body that cannot be read at all is refused with a fault.Rejected error: empty,
// malformed JSON (with line, column and byte offset), neither object nor array, nested
// too deeply, or over MaxAlerts. One bad element of an array is set aside in
// Batch.Rejected and the rest decoded; an object that is no recognizable alert is kept
// as an Incident of ShapeUnknown. An Event Grid validation event sets
// Batch.ValidationCode and yields no incident.
func Decode(body []byte, header http.Header) (Batch, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Batch{}, reject(errors.New("empty body, want an alert object or an array of alerts"))
	}
	root, err := parseDocument(body)
	if err != nil {
		return Batch{}, reject(err)
	}
	d := decoder{batch: Batch{Incidents: []Incident{}}}
	typ, binary, err := binaryEvent(header)
	if err != nil {
		return Batch{}, reject(err)
	}
	switch root.kind {
	case kindObject:
		if binary {
			d.data(root, typ, "", 1)
		} else {
			d.unwrap(root, "", 0)
		}
	case kindArray:
		if n := len(root.elems); n > MaxAlerts {
			return Batch{}, tooMany(n)
		}
		for i, e := range root.elems {
			d.index = i
			if binary {
				d.data(e, typ, "", 1)
			} else {
				d.unwrap(e, "", 1)
			}
		}
	default:
		return Batch{}, reject(fmt.Errorf("top-level JSON is a %s, want an alert object or an array of alerts", root.kind))
	}
	if d.items > MaxAlerts {
		return Batch{}, tooMany(d.items)
	}
	// A lone object that yields nothing usable is the body's failure, not one bad
	// element among good ones: refuse it so the sender sees why.
	if root.kind == kindObject && len(d.batch.Incidents) == 0 && d.batch.ValidationCode == "" && len(d.batch.Rejected) > 0 {
		return Batch{}, reject(errors.New(d.batch.Rejected[0].Reason))
	}
	return d.batch, nil
}

func reject(err error) error {
	return fault.Rejected(http.StatusBadRequest, fmt.Errorf("alert: %w", err))
}

func tooMany(n int) error {
	return reject(fmt.Errorf("body carries %d alerts, more than the %d accepted in one request", n, MaxAlerts))
}

// decoder accumulates one body's batch.
type decoder struct {
	batch Batch
	index int // top-level array position of the element being decoded (0 for an object)
	items int // incidents and rejections so far, for MaxAlerts
}

// add appends an incident, counting it; past MaxAlerts only the count goes on, so the
// error can say how many alerts the body held without building them all.
func (d *decoder) add(inc Incident) {
	d.items++
	if d.items <= MaxAlerts {
		d.batch.Incidents = append(d.batch.Incidents, inc)
	}
}

// setAside records why the element at d.index (or a part of it, at where) was not read.
func (d *decoder) setAside(where, reason string) {
	d.items++
	if d.items > MaxAlerts {
		return
	}
	if where != "" {
		reason = where + ": " + reason
	}
	d.batch.Rejected = append(d.batch.Rejected, Rejected{Index: d.index, Reason: reason})
}

// unwrap decodes one value that should be an alert or an envelope around alerts.
func (d *decoder) unwrap(n *node, where string, level int) {
	if n.kind != kindObject {
		d.setAside(where, fmt.Sprintf("a JSON %s, not an alert object", n.kind))
		return
	}
	if level > maxEnvelopes {
		d.setAside(where, fmt.Sprintf("envelopes nested more than %d deep", maxEnvelopes))
		return
	}
	switch {
	case isCloudEvent(n):
		typ, data, err := cloudEvent(n)
		d.event(n, typ, data, err, where, level)
	case isEventGridEvent(n):
		data, err := eventGridData(n)
		d.event(n, n.text("eventType"), data, err, where, level)
	case isGraphNotification(n, ""):
		d.graphNotification(n, "", where)
	default:
		if shape, _ := shapeOf(n); shape == ShapeUnknown {
			// List responses (ARM, Graph: {"value": [...]}) and a Logic App forwarding
			// its trigger outputs ({"headers", "body"}) wrap alerts without being one.
			if v := n.field("value"); isKind(v, kindArray) {
				d.each(v, join(where, "value"), level+1)
				return
			}
			if b := n.field("body"); isKind(b, kindObject) {
				d.unwrap(b, join(where, "body"), level+1)
				return
			}
		}
		inc, err := alertIncident(n)
		if err != nil {
			d.setAside(where, err.Error())
			return
		}
		d.add(inc)
	}
}

// each decodes the items of an array inside an element.
func (d *decoder) each(arr *node, where string, level int) {
	for i, e := range arr.elems {
		d.unwrap(e, fmt.Sprintf("%s[%d]", where, i), level)
	}
}

// event decodes the data of a CloudEvent or Event Grid event of the given type, or sets
// the event aside with err.
func (d *decoder) event(n *node, typ string, data *node, err error, where string, level int) {
	if err != nil {
		label := "event"
		if id := n.text("id"); id != "" {
			label = fmt.Sprintf("event %q", id)
		}
		d.setAside(where, label+": "+err.Error())
		return
	}
	d.data(data, typ, join(where, "data"), level+1)
}

// data decodes an event's data: the validation handshake, a Graph change
// notification, alerts, or an array of them.
func (d *decoder) data(data *node, typ, where string, level int) {
	if strings.EqualFold(typ, ValidationEventType) {
		code := data.text("validationCode")
		if code == "" {
			d.setAside(where, "subscription validation event carries no validationCode")
			return
		}
		if err := checkValidationCode(code); err != nil {
			d.setAside(where, err.Error())
			return
		}
		if d.batch.ValidationCode == "" {
			d.batch.ValidationCode = code
		}
		return
	}
	switch {
	case data.kind == kindArray:
		for i, e := range data.elems {
			at := fmt.Sprintf("%s[%d]", where, i)
			if e.kind == kindObject && isGraphNotification(e, typ) {
				d.graphNotification(e, typ, at)
				continue
			}
			d.unwrap(e, at, level)
		}
	case data.kind == kindObject && isGraphNotification(data, typ):
		d.graphNotification(data, typ, where)
	default:
		d.unwrap(data, where, level)
	}
}

func (d *decoder) graphNotification(n *node, typ, where string) {
	inc, err := graphNotificationIncident(n, typ)
	if err != nil {
		d.setAside(where, err.Error())
		return
	}
	d.add(inc)
}

// join extends a path such as "data" or "value[2]" for rejection reasons.
func join(where, part string) string {
	if where == "" {
		return part
	}
	return where + "." + part
}
