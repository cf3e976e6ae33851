// Package alert decodes Microsoft Defender for Cloud / Defender for APIs alerts, in every
// shape they reach apiguard, into one normalized Incident.
package alert

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Shape names the layout an alert arrived in.
type Shape string

const (
	ShapeARM      Shape = "arm"               // ARM REST: {id, name, type, properties{...}}
	ShapeWorkflow Shape = "workflow"          // workflow automation trigger body: flat camelCase
	ShapeExport   Shape = "export"            // continuous export / SecurityAlert schema: flat PascalCase
	ShapeTableRow Shape = "securityalert_row" // Log Analytics SecurityAlert row: Entities as JSON string
	ShapeGraph    Shape = "graph"             // Microsoft Graph alerts_v2 item or change notification
	ShapeUnknown  Shape = "unknown"           // an object with no recognizable alert fields
)

// Address is an attacker address found in an alert, with where it was found.
type Address struct {
	IP     netip.Addr `json:"ip"`
	Source string     `json:"source"` // "entity" or "extended_properties" (or "evidence" for Graph)
}

// Incident is one alert, normalized. The raw alert is kept as received.
type Incident struct {
	// ID is derived from the alert's own identity (systemAlertId first), so a
	// redelivered alert maps to the same incident.
	ID            string         `json:"id"`
	SystemAlertID string         `json:"system_alert_id,omitempty"`
	AlertType     string         `json:"alert_type"`
	DisplayName   string         `json:"display_name,omitempty"`
	Severity      vocab.Severity `json:"severity"`
	Status        string         `json:"status,omitempty"`
	ProductName   string         `json:"product_name,omitempty"`
	StartTime     time.Time      `json:"start_time,omitzero"`
	EndTime       time.Time      `json:"end_time,omitzero"`
	GeneratedTime time.Time      `json:"generated_time,omitzero"`
	Addresses     []Address      `json:"addresses"`
	// AddressesOverBound counts the distinct addresses the alert names beyond the
	// first MaxAddresses: not decided on, but counted so that nothing is lost unseen.
	AddressesOverBound int `json:"addresses_over_bound,omitempty"`
	// RefusedAddresses are values the alert's structured fields gave as addresses that
	// are not exactly one address (a prefix with host bits set, trailing bytes, a
	// port...): none of them is acted on, each is kept with why. RefusedMore counts
	// those beyond the first maxRefused.
	RefusedAddresses []RefusedAddress `json:"refused_addresses,omitempty"`
	RefusedMore      int              `json:"refused_addresses_more,omitempty"`
	ResourceIDs      []string         `json:"resource_ids,omitempty"`      // every Azure resource id named by the alert
	APIMResources    []string         `json:"apim_resource_ids,omitempty"` // those under Microsoft.ApiManagement
	Compromised      string           `json:"compromised_entity,omitempty"`
	// Identities are the clients a traffic finding names by identity (subscription or
	// user) rather than by address: they are throttled, never blocked at the edge.
	Identities []Identity `json:"identities,omitempty"`
	// Confidence is a traffic finding's confidence (0..1); 0 for Defender alerts.
	Confidence float64         `json:"confidence,omitempty"`
	Shape      Shape           `json:"shape"`
	Raw        json.RawMessage `json:"-"`
}

// EventTime is the time the alert speaks of: its start, else when it was generated,
// else its end. Zero when the alert carries no time at all.
func (i *Incident) EventTime() time.Time {
	for _, t := range []time.Time{i.StartTime, i.GeneratedTime, i.EndTime} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// RefusedAddress is a value given as an address that apiguard would not act on.
type RefusedAddress struct {
	// Value is the value as received, Go-escaped (a NUL shows as \x00) and cut after 64
	// bytes.
	Value  string `json:"value"`
	Source string `json:"source"` // "entity" or "evidence"
	Reason string `json:"reason"`
}

// Identity is a client named by its APIM subscription or user id.
type Identity struct {
	Kind  vocab.KeyType `json:"kind"` // subscription or user
	Value string        `json:"value"`
}

// Rejected is an element of a batch that could not be read as an alert.
type Rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Batch is what one request body decoded to.
type Batch struct {
	Incidents []Incident `json:"incidents"`
	Rejected  []Rejected `json:"rejected,omitempty"`
	// ValidationCode is set when the body was an Event Grid subscription validation
	// event; the caller must answer {"validationResponse": code}.
	ValidationCode string `json:"-"`
}
