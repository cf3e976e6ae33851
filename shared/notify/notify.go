// Package notify tells people and systems what apiguard did: a block created, removed or
// extended, a decision waiting for approval, an enforcement point's health changing. An
// Event goes to every Target whose type filter takes it, as a CloudEvents 1.0 structured
// JSON event, a Microsoft Teams Adaptive Card or a Slack message.
//
// Notifications never delay or fail enforcement: Notify enqueues and returns, and
// delivery (with its retries) runs on background workers, one ordered lane per target.
// A failure is never returned to the caller; it goes to Options.OnFailure, once per
// event and target. See README.md for the delivery guarantees.
//
// Callers declare the one method they need and accept anything that has it:
//
//	type notifier interface{ Notify(events ...notify.Event) }
//
// *Dispatcher (the real one) and *Memory (records events, for tests and the offline
// commands) both satisfy it, as Notifier below states and the compile-time guards check.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Event is one thing apiguard announces.
type Event struct {
	// ID identifies the cause: a retried cause (the same alert redelivered, the same
	// block extended by the same incident) must give the same id, so that receivers
	// can drop duplicates. CauseID derives one. Required.
	ID string
	// Type is what happened, one of the Type* constants. Required.
	Type string
	// Subject is what it happened to: an address, a CIDR, an identity, or a target.
	Subject string
	// Time is when it happened (the cause's time, not the sending time). A zero Time is
	// left out of the messages.
	Time time.Time
	// Summary is one readable sentence, the title of a Teams card or a Slack message:
	// "45.153.160.201 blocked at the edge for 24h: High alert API_AccessFromSuspiciousIP".
	Summary string
	// Links are absolute http(s) URLs by name ("incident", "approve", "reject"); they
	// become buttons in Teams and Slack. A link that is not an absolute http(s) URL is
	// left out (and logged), so that it cannot make a chat service refuse the message.
	Links map[string]string
	// Data is the event's document for machines, encoded with encoding/json when Notify
	// is called (so the caller may reuse its values afterwards). It is the "detail" of
	// a CloudEvent's data; chat messages do not carry it.
	Data any
}

// Event types apiguard sends. A target's type filter names these, or a prefix of them
// ending in "." ("apiguard.block.").
const (
	TypeBlockCreated    = "apiguard.block.created"
	TypeBlockRemoved    = "apiguard.block.removed"
	TypeBlockExtended   = "apiguard.block.extended"
	TypeDecisionPending = "apiguard.decision.pending"
	TypeHealthChanged   = "apiguard.health.changed"
	TypeTriageCompleted = "apiguard.triage.completed"
)

// Types lists every event type, the words a target's type filter may use.
func Types() []string {
	return []string{TypeBlockCreated, TypeBlockRemoved, TypeBlockExtended, TypeDecisionPending, TypeHealthChanged, TypeTriageCompleted}
}

// Notifier is what a sender of events needs. Notify never blocks on delivery and never
// fails the caller; implementations are safe for concurrent use.
type Notifier interface {
	Notify(events ...Event)
}

var (
	_ Notifier = (*Dispatcher)(nil)
	_ Notifier = (*Memory)(nil)
)

// CauseID derives an event id from what caused the event (for example the event type,
// the incident id and the subject): the same parts always give the same id, different
// parts (including a different split into parts) a different one.
func CauseID(parts ...string) string {
	b, _ := json.Marshal(parts) // a []string always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
