package record

import (
	"encoding/json"
	"time"
)

// IncidentRecord is a normalized alert and the raw alert it came from.
type IncidentRecord struct {
	ID            string          // partition-independent identity, e.g. "inc-<32 hex>"
	EventTime     time.Time       // the alert's own time (zero when it has none): chooses the partition
	Received      time.Time       // when apiguard first saw it
	AlertType     string          //
	Severity      string          //
	Source        string          // "alert" today; detector findings later
	Normalized    json.RawMessage // the normalized incident as JSON
	Raw           []byte          // the alert as received (stored compressed, chunked)
	DecisionCount int             // number of decisions written for it; set when complete
	Complete      bool            // true once decisions, blocks and audit are written

	// ClaimedUntil is when the claim of the delivery deciding an incomplete incident
	// lapses (see ClaimIncident); zero when released or never claimed.
	ClaimedUntil time.Time
	// Undecided counts the addresses the alert named beyond what one incident is
	// decided on, and UndecidedReason says why: they are kept here, not dropped unseen.
	Undecided       int
	UndecidedReason string
	// ETag is the row's version as read; PutIncident with it set writes only over
	// that version. Transport state: not serialized.
	ETag string `json:"-"`

	// Set by reads when a payload did not fit in one entity even compressed (see
	// README.md). Raw then holds the prefix that was kept; Normalized is nil,
	// since a cut JSON document would not parse.
	RawTruncated        bool
	NormalizedTruncated bool
}

// IncidentQuery selects incidents for ListIncidents.
type IncidentQuery struct {
	From, To  time.Time // event time, From included, To excluded: required
	AlertType string    // exact; "" for any
	Source    string    // exact; "" for any
	Limit     int       // incidents per page: 0 means 100, more than 1,000 means 1,000
	Token     string    // "" for the first page, then the token the previous page returned
}

// DecisionRecord is one decision taken for an incident. Body is the decision as the
// API shows it; the other fields are copied out of it for queries.
type DecisionRecord struct {
	IncidentID string
	EventTime  time.Time // the incident's event time: same partition as the incident
	Index      int       // position within the incident's decisions
	Action     string    // record, skip, deferred, throttle, block_waf, block_apim
	Target     string    // address, CIDR or identity key; empty for record-only
	Mode       string    // dryrun or enforce
	Created    time.Time
	Body       json.RawMessage
	// Status is where the decision stands, in the caller's words (recorded, dryrun,
	// pending, enforced, rejected, lapsed, reverted, ...): at most 64 characters,
	// empty for decisions written before it existed. Updated is when it last changed.
	Status  string
	Updated time.Time
}

// DecisionQuery selects decisions for ListDecisionsByStatus.
type DecisionQuery struct {
	Status   string    // exact status; "" lists every status
	From, To time.Time // the incidents' event times, From included, To excluded: required
	Limit    int       // decisions per page: 0 means 100, more than 1,000 means 1,000
	Token    string    // "" for the first page, then the token the previous page returned
}

// Block is a desired enforcement: the truth the reconcilers bring WAF and APIM to.
type Block struct {
	Action         string    // block_waf, block_apim or throttle: the partition
	TargetKind     string    // ip, cidr, subscription, user, api
	Target         string    // normalized address, CIDR or identity key
	Reason         string    //
	Severity       string    //
	SourceIncident string    // incident id that created or last extended it
	SourceFinding  string    // detector finding id (later issues)
	Created        time.Time //
	Updated        time.Time //
	Expires        time.Time //
	Mode           string    // dryrun or enforce
	Offences       int       // offence count of the target when last decided
	Forwarded      bool      // address learnt through a trusted forwarded header (Front Door: also RemoteAddr)
	ETag           string    // set by reads; required by conditional writes and deletes
}

// Offence is one decided offence of an address, for escalation.
type Offence struct {
	Target     string    // normalized address or identity key: the partition
	Time       time.Time // event time of the offence
	IncidentID string    // makes the write idempotent
	Action     string
	Severity   string
	Reverted   bool // set by RevertOffences: CountOffences leaves it out
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	Time    time.Time       // when it happened (injected clock)
	ID      string          // deterministic per cause, so a retried write is not doubled
	Kind    string          // e.g. incident.decided, block.created, block.extended, block.expired
	Subject string          // what it is about: incident id, block target
	Actor   string          // function or operator
	Detail  json.RawMessage // free-form JSON
}

// AllowEntry is one allow-listed network: addresses apiguard must never block.
type AllowEntry struct {
	Prefix  string    // canonical CIDR text (cidr.Parse's form): "203.0.113.0/24", "2001:db8::1/128"
	Reason  string    //
	Actor   string    // who added it
	Created time.Time //
	Expires time.Time // zero: never
	ETag    string    // set by ListAllow
}

// IdempotencyRecord remembers a request made under an idempotency key, so that a
// retried POST or DELETE is answered from it instead of running again.
type IdempotencyRecord struct {
	Scope, Key  string    // at most 200 characters each
	RequestHash string    // the caller's hash of the request, to tell another request under the same key
	Status      int       // the answer's HTTP status; 0 while the request is in progress
	ContentType string    //
	Body        []byte    // the answer's body, stored compressed
	Created     time.Time //
	Expires     time.Time // the key may be claimed again from then on
	ETag        string    // set by reads
}

// HealthRecord is how one part of apiguard is doing: a function, a target's
// enforcement, a notification channel.
type HealthRecord struct {
	Kind, Name   string    // e.g. "function"/"alerts", "target"/<target key>, "notify"/<target name>
	LastSuccess  time.Time //
	LastFailure  time.Time //
	LastError    string    // cut to 1,024 characters
	Count        int64     // what the kind counts: runs, failures in a row, ...
	DesiredHash  string    // the configuration wanted ...
	AppliedHash  string    // ... and the one in force
	DiffersSince time.Time // when they last began to differ; zero when they agree
	Updated      time.Time //
	ETag         string    // set by reads
}
