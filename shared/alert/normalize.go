package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/shared/vocab"
)

// isAlertKey reports whether a key (lower case) is one only a Defender alert has: the
// fields that tell an alert from any other object. Generic names (id, name, type,
// status, severity) do not count, so {"status": "ok"} is not mistaken for an alert.
func isAlertKey(k string) bool {
	switch k {
	case "alerttype", "systemalertid", "alertdisplayname", "alertname", "alertseverity",
		"reportedseverity", "starttimeutc", "endtimeutc", "timegeneratedutc", "entities",
		"extendedproperties", "resourceidentifiers", "compromisedentity", "azureresourceid",
		"alerturi", "remediationsteps", "vendorname", "productname", "productcomponentname":
		return true
	}
	return false
}

// alertKeys counts an object's alert keys by the case of their first letter: flat
// PascalCase is the export schema, flat camelCase the workflow automation body.
func alertKeys(n *node) (upper, lower int) {
	if n == nil || n.kind != kindObject {
		return 0, 0
	}
	for _, k := range n.keys {
		if !isAlertKey(strings.ToLower(k)) {
			continue
		}
		if k[0] >= 'A' && k[0] <= 'Z' {
			upper++
		} else {
			lower++
		}
	}
	return upper, lower
}

// isGraphAlert reports whether n is a Microsoft Graph security alert (alerts_v2).
func isGraphAlert(n *node) bool {
	for _, k := range []string{"detectionSource", "serviceSource", "providerAlertId", "alertWebUrl", "detectorId"} {
		if n.has(k) {
			return true
		}
	}
	if e := n.field("evidence"); e != nil && e.kind == kindArray {
		return true
	}
	return strings.Contains(strings.ToLower(n.text("@odata.type")), "security.alert")
}

// shapeOf tells which layout n is in and returns the object holding the alert's fields
// (ARM keeps them under "properties").
func shapeOf(n *node) (Shape, *node) {
	if p := n.field("properties"); p != nil && p.kind == kindObject {
		if u, l := alertKeys(p); u+l > 0 {
			return ShapeARM, p
		}
	}
	if isGraphAlert(n) {
		return ShapeGraph, n
	}
	u, l := alertKeys(n)
	switch {
	case u+l == 0:
		return ShapeUnknown, n
	case n.has("AlertName") || n.has("AlertSeverity") || isKind(n.field("Entities"), kindString) || isKind(n.field("ExtendedProperties"), kindString):
		return ShapeTableRow, n
	case u > l:
		return ShapeExport, n
	default:
		return ShapeWorkflow, n
	}
}

func isKind(n *node, k kind) bool { return n != nil && n.kind == k }

// alertIncident normalizes one alert object. raw is the object as received. It fails
// only when a field encoded as JSON text (a Log Analytics row's Entities) cannot be
// read: the alert would otherwise be decided on part of what it says.
func alertIncident(n *node) (Incident, error) {
	shape, src := shapeOf(n)
	inc := Incident{Shape: shape, Raw: bytes.Clone(n.raw), Addresses: []Address{}}
	var addrs addressSet
	var res resourceSet
	switch shape {
	case ShapeUnknown:
		// Nothing is known about it: keep it, identified by its bytes.
	case ShapeGraph:
		readGraph(&inc, n, &addrs, &res)
	default:
		if err := readDefender(&inc, src, &addrs, &res); err != nil {
			return Incident{}, err
		}
	}
	if len(addrs.list) > 0 {
		inc.Addresses = addrs.list
	}
	inc.AddressesOverBound = addrs.over
	inc.RefusedAddresses, inc.RefusedMore = addrs.refused, addrs.refusedMore
	inc.ResourceIDs = res.list
	inc.APIMResources = res.apim()
	inc.ID = incidentID(inc.SystemAlertID, armKey(shape, n), graphKey(shape, n), n.raw)
	return inc, nil
}

// readDefender reads a Defender alert in any of its own shapes (ARM properties,
// workflow, export, table row): the same fields under case-varying aliases.
func readDefender(inc *Incident, a *node, addrs *addressSet, res *resourceSet) error {
	inc.SystemAlertID = a.text("systemAlertId")
	inc.AlertType = a.text("alertType")
	inc.DisplayName = a.text("alertDisplayName", "AlertName", "DisplayName", "title")
	inc.Severity = severityOf(a, "severity", "ReportedSeverity", "AlertSeverity")
	inc.Status = a.text("status")
	inc.ProductName = a.text("productName")
	inc.StartTime = parseTime(a.text("startTimeUtc", "StartTime"))
	inc.EndTime = parseTime(a.text("endTimeUtc", "EndTime"))
	inc.GeneratedTime = parseTime(a.text("timeGeneratedUtc", "timeGenerated"))
	inc.Compromised = a.text("compromisedEntity")

	ids, err := maybeEncoded(a, "resourceIdentifiers")
	if err != nil {
		return err
	}
	props, err := maybeEncoded(a, "extendedProperties")
	if err != nil {
		return err
	}
	entities, err := maybeEncoded(a, "entities")
	if err != nil {
		return err
	}
	for _, ri := range elements(ids) {
		res.addARM(ri.text("azureResourceId"))
	}
	res.addARM(a.text("AzureResourceId"))
	res.addARM(a.text("ResourceId"))
	res.addARM(inc.Compromised)

	found := readEntities(entities, addrs, res)
	if !found {
		scanExtendedProperties(props, addrs, 0)
	}
	scanExtendedResources(props, res, 0)
	return nil
}

// readGraph reads a Microsoft Graph alerts_v2 item. Graph has no alert type; the id
// of the detector that raised the alert is the closest thing and stands in for it.
func readGraph(inc *Incident, a *node, addrs *addressSet, res *resourceSet) {
	inc.AlertType = a.text("detectorId")
	inc.DisplayName = a.text("title")
	inc.Severity = severityOf(a, "severity")
	inc.Status = a.text("status")
	inc.ProductName = a.text("serviceSource")
	inc.StartTime = parseTime(a.text("firstActivityDateTime"))
	inc.EndTime = parseTime(a.text("lastActivityDateTime"))
	inc.GeneratedTime = parseTime(a.text("createdDateTime"))
	readEvidence(a.field("evidence"), addrs, res, 0)
}

// maybeEncoded returns the value of field name, or the document it holds when it is a
// string of JSON (Log Analytics stores Entities and ExtendedProperties as JSON text).
// A string that does not start like JSON yields nil: there is nothing to read in it. A
// string that does and cannot be read (malformed, a repeated key) is an error.
func maybeEncoded(a *node, name string) (*node, error) {
	n := a.field(name)
	if n == nil || n.kind != kindString {
		return n, nil
	}
	if t := strings.TrimLeft(strings.TrimPrefix(n.str, "\ufeff"), " \t\r\n"); t == "" || t[0] != '{' && t[0] != '[' && t[0] != '"' {
		return nil, nil
	}
	doc, err := decodeString(n)
	if err != nil {
		return nil, fmt.Errorf("%s holds JSON text that cannot be read: %w", name, err)
	}
	return doc, nil
}

// elements is an array's items, or nil.
func elements(n *node) []*node {
	if n == nil || n.kind != kindArray {
		return nil
	}
	return n.elems
}

// severityOf returns the first of names that holds a known severity, so an export
// with an empty Severity still reads its ReportedSeverity.
func severityOf(a *node, names ...string) vocab.Severity {
	for _, name := range names {
		if s := parseSeverity(a.text(name)); s != vocab.SeverityUnknown {
			return s
		}
	}
	return vocab.SeverityUnknown
}

// parseSeverity maps Defender's and Graph's spellings to a Severity.
func parseSeverity(s string) vocab.Severity {
	for _, sev := range vocab.Severities() {
		if strings.EqualFold(s, string(sev)) {
			return sev
		}
	}
	return vocab.SeverityUnknown
}

// armKey is the alert's own ARM identity: the ARM id (or name) of an ARM alert, or an
// ARM-looking id on a flat one.
func armKey(shape Shape, n *node) string {
	switch shape {
	case ShapeARM:
		return n.text("id", "name")
	case ShapeWorkflow, ShapeExport, ShapeTableRow:
		if id := n.text("id"); strings.HasPrefix(id, "/") {
			return id
		}
	}
	return ""
}

func graphKey(shape Shape, n *node) string {
	if shape != ShapeGraph {
		return ""
	}
	return n.text("id")
}

// incidentID derives the incident id from the alert's own identity, strongest first,
// so a redelivered alert (Event Grid and Logic Apps retry) maps to the same incident.
// Graph ids are case-sensitive and kept as they are; Defender's are not.
func incidentID(systemAlertID, armID, graphID string, raw []byte) string {
	var key []byte
	switch {
	case systemAlertID != "":
		key = []byte("sa:" + strings.ToLower(systemAlertID))
	case armID != "":
		key = []byte("arm:" + strings.ToLower(armID))
	case graphID != "":
		key = []byte("graph:" + graphID)
	default:
		key = append([]byte("raw:"), raw...)
	}
	sum := sha256.Sum256(key)
	return "inc-" + hex.EncodeToString(sum[:16])
}
