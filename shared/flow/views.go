package flow

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Incident is an incident as operators see it: what was alerted or found, and what
// apiguard decided.
type Incident struct {
	ID          string         `json:"id"`
	AlertType   string         `json:"alert_type"`
	Severity    vocab.Severity `json:"severity"`
	DisplayName string         `json:"display_name,omitempty"`
	// Source is "alert" for a Defender alert, "finding" for apiguard's own detection.
	Source    string    `json:"source"`
	EventTime time.Time `json:"event_time,omitzero"`
	Received  time.Time `json:"received"`
	// Complete is false while the incident is being decided (or its decision failed
	// half-way and waits for the caller's retry).
	Complete bool `json:"complete"`
	// Addresses and identities the incident names.
	Addresses  []string `json:"addresses,omitempty"`
	Identities []string `json:"identities,omitempty"`
	// Undecided is the count of addresses the alert named beyond what one incident
	// is decided on, and why; nil when there were none.
	Undecided *Undecided `json:"undecided,omitempty"`
	// Decisions are the incident's decisions; set on a single incident.
	Decisions []Decision `json:"decisions,omitempty"`
	// Evidence is the finding (counts, window, samples) or the alert as received;
	// set on a single incident. EvidenceTruncated says it was cut to fit storage.
	Evidence          json.RawMessage `json:"evidence,omitempty"`
	EvidenceTruncated bool            `json:"evidence_truncated,omitempty"`
}

// Decision is a decision as operators see it, with where it stands.
type Decision struct {
	// ID names it in the control API: "<incident id>.<index>".
	ID       string       `json:"id"`
	Incident string       `json:"incident"`
	Status   vocab.Status `json:"status"`
	Updated  time.Time    `json:"updated,omitzero"`
	decide.Decision
}

// Health says whether the automation works, and if not, why.
type Health struct {
	// Status is healthy or unhealthy; Causes say what makes it unhealthy.
	Status  string    `json:"status"`
	Causes  []string  `json:"causes,omitempty"`
	Checked time.Time `json:"checked"`
	// Functions: each function's last success and last failure.
	Functions []FunctionHealth `json:"functions"`
	// Targets: each enforcement point's last reconcile and whether it holds the
	// desired state.
	Targets []TargetHealth `json:"targets"`
	// SetAside24h counts log records and batches set aside in the last 24 hours.
	SetAside24h int64 `json:"set_aside_24h"`
	// NotificationsFailed24h counts notifications that finally failed in the last 24 hours.
	NotificationsFailed24h int64 `json:"notifications_failed_24h"`
	// PendingApprovals counts decisions waiting for an operator.
	PendingApprovals int `json:"pending_approvals"`
	// DeadLetters counts messages dead-lettered per queue, when a Service Bus
	// namespace is configured.
	DeadLetters map[string]int64 `json:"dead_letters,omitempty"`
}

// HTTPStatus is 200 when healthy and 503 when not, so a monitor that reads only the
// status (an availability test, a load balancer probe) sees it.
func (h Health) HTTPStatus() int {
	if h.Status == "healthy" {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// FunctionHealth is one function's record.
type FunctionHealth struct {
	Name        string    `json:"name"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Invocations int64     `json:"invocations"`
}

// TargetHealth is one enforcement target's record.
type TargetHealth struct {
	Target        string    `json:"target"`
	LastReconcile time.Time `json:"last_reconcile,omitzero"`
	LastFailure   time.Time `json:"last_failure,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	// InSync is true when the target holds the desired state as last reconciled;
	// DiffersSince is when a change first waited for it, while it does not.
	InSync       bool      `json:"in_sync"`
	DiffersSince time.Time `json:"differs_since,omitzero"`
}

// AllowEntry is an operator's allow-list entry: never blocked until it expires.
type AllowEntry struct {
	// Prefix is the address or CIDR, canonical.
	Prefix  string    `json:"prefix"`
	Reason  string    `json:"reason"`
	Actor   string    `json:"actor"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	// Configured marks an entry of APIGUARD_ALLOW_CIDRS (read-only here).
	Configured bool `json:"configured,omitempty"`
}

// AllowRequest adds an allow-list entry.
type AllowRequest struct {
	// Target is an address or CIDR.
	Target string `json:"target"`
	// Duration is how long, e.g. "24h"; empty: until removed.
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason"`
}

// RevertRequest undoes a decision.
type RevertRequest struct {
	// Allow, e.g. "24h", also allow-lists the target for that long, so the same
	// false positive does not come straight back.
	Allow  string `json:"allow,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RejectRequest answers a pending decision with no.
type RejectRequest struct {
	Reason string `json:"reason,omitempty"`
}
