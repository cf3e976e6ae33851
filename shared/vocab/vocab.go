// Package vocab is apiguard's one vocabulary: the actions a decision takes, the modes it
// runs in, the kinds of key and target, severities and their ranks, and the traffic
// detectors with the alert types their findings are decided under.
//
// Settings, the playbook, the store, the reconcilers and the detectors all speak these
// words; declaring them once, in a package that imports nothing of apiguard's, is what
// keeps config's validation, the playbook and the enforcement points from drifting
// apart (a test ties the detectors to the playbook).
package vocab

import "slices"

// Action is a graded response to an incident.
type Action string

const (
	Record    Action = "record"     // keep the incident; enforce nothing
	Throttle  Action = "throttle"   // rate-limit at the gateway (APIM)
	BlockWAF  Action = "block_waf"  // block the address at the edge (Application Gateway / Front Door WAF)
	BlockAPIM Action = "block_apim" // block at the gateway (APIM ip-filter)
	Skip      Action = "skip"       // would have acted, but the target is protected
	Deferred  Action = "deferred"   // would have blocked, but the hourly cap on new blocks is reached
	// Onboard puts an API under Defender for APIs: the triage proposes it, an operator
	// approves it. It keeps no desired block.
	Onboard Action = "onboard"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{Record, Throttle, BlockWAF, BlockAPIM, Skip, Deferred, Onboard}
}

// Enforcing reports whether a enforces something, and so keeps a desired block.
func (a Action) Enforcing() bool { return a == Throttle || a == BlockWAF || a == BlockAPIM }

// Blocking reports whether a counts against the cap on new blocks.
func (a Action) Blocking() bool { return a == BlockWAF || a == BlockAPIM }

// EnforcingActions lists the actions that keep desired blocks, in the order expiry
// and reconcile requests walk them.
func EnforcingActions() []Action { return []Action{BlockWAF, BlockAPIM, Throttle} }

// PlaybookActions lists the actions a playbook entry or the default action may name:
// skip and deferred are outcomes of the guard and the cap, never a choice.
func PlaybookActions() []Action { return []Action{Record, Throttle, BlockWAF, BlockAPIM} }

// ParseAction reads an action from a setting; ok is false for a word that is not one
// of the allowed actions.
func ParseAction(s string, allowed []Action) (Action, bool) {
	a := Action(s)
	return a, slices.Contains(allowed, a)
}

// Mode says whether an enforcing decision is put in force.
type Mode string

const (
	DryRun  Mode = "dryrun"  // decide and record, enforce nothing
	Approve Mode = "approve" // decide and record, enforce once an operator approves
	Enforce Mode = "enforce" // reconcile into the enforcement points
)

// Modes lists every mode.
func Modes() []Mode { return []Mode{DryRun, Approve, Enforce} }

// Status is where a decision stands: what it put in force, or why not.
type Status string

const (
	StatusRecorded Status = "recorded" // nothing to enforce: record, skip, deferred
	StatusDryRun   Status = "dryrun"   // would enforce; the mode is dryrun
	StatusPending  Status = "pending"  // waits for an operator's approval
	StatusEnforced Status = "enforced" // in force (or was, until it expired)
	StatusRejected Status = "rejected" // an operator rejected it while pending
	StatusLapsed   Status = "lapsed"   // pending for longer than the approval time
	StatusReverted Status = "reverted" // an operator undid it
)

// Statuses lists every status.
func Statuses() []Status {
	return []Status{StatusRecorded, StatusDryRun, StatusPending, StatusEnforced, StatusRejected, StatusLapsed, StatusReverted}
}

// StatusOf is the status a new decision starts in.
func StatusOf(a Action, m Mode) Status {
	if !a.Enforcing() {
		return StatusRecorded
	}
	switch m {
	case Enforce:
		return StatusEnforced
	case Approve:
		return StatusPending
	}
	return StatusDryRun
}

// KeyType is what a detector keeps state for and what a decision acts on.
type KeyType string

const (
	KeyIP           KeyType = "ip"           // a client address
	KeySubscription KeyType = "subscription" // an APIM subscription id
	KeyUser         KeyType = "user"         // an APIM user id or token subject
	KeyAPI          KeyType = "api"          // an API, by resource id: throttled per client
	KeyOp           KeyType = "op"           // an operation (API, method, template): detector population baselines
)

// Identity reports whether k names a caller's identity rather than an address: those
// are throttled at the gateway, which sees identities, and never blocked at the edge.
func (k KeyType) Identity() bool { return k == KeySubscription || k == KeyUser }

// Severity is an alert's or a finding's severity, normalized to Defender's words.
type Severity string

const (
	SeverityUnknown       Severity = ""
	SeverityInformational Severity = "Informational"
	SeverityLow           Severity = "Low"
	SeverityMedium        Severity = "Medium"
	SeverityHigh          Severity = "High"
	// SeverityNotGiven is how a decision names the severity of an alert that gave none.
	SeverityNotGiven Severity = "Unknown"
)

// Severities lists the known severities, least severe first.
func Severities() []Severity {
	return []Severity{SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh}
}

// Rank orders severities for eviction and escalation: Informational 0 to High 3. A
// severity apiguard cannot read ranks as Medium, the same default its durations take.
func (s Severity) Rank() int {
	switch s {
	case SeverityInformational:
		return 0
	case SeverityLow:
		return 1
	case SeverityHigh:
		return 3
	}
	return 2
}

// Known reports whether s is one of Severities.
func (s Severity) Known() bool { return slices.Contains(Severities(), s) }

// Traffic detectors, as they appear in findings and in the detector configuration.
const (
	DetectorFlood              = "flood"
	DetectorRateSpike          = "rate_spike"
	DetectorProbing            = "probing"
	DetectorBruteForce         = "brute_force"
	DetectorCredentialStuffing = "credential_stuffing"
	DetectorEnumeration        = "enumeration"
	DetectorExfiltration       = "exfiltration"
)

// Detectors lists every detector in evaluation order.
func Detectors() []string {
	return []string{DetectorFlood, DetectorRateSpike, DetectorProbing, DetectorBruteForce,
		DetectorCredentialStuffing, DetectorEnumeration, DetectorExfiltration}
}

// findingPrefix starts the alert type of apiguard's own findings, keeping them apart
// from Defender's alert types (API_...).
const findingPrefix = "apiguard."

// AlertType is the alert type a detector's findings are decided under: its playbook key.
func AlertType(detector string) string { return findingPrefix + detector }

// DetectorOf reads the detector out of a finding's alert type; ok is false for any
// other alert type.
func DetectorOf(alertType string) (detector string, ok bool) {
	if len(alertType) <= len(findingPrefix) || alertType[:len(findingPrefix)] != findingPrefix {
		return "", false
	}
	return alertType[len(findingPrefix):], true
}
