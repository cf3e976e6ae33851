// Package queue names the work apiguard's queues carry between its functions, and
// carries reconcile requests to the one writer of each policy. Under the Functions host
// the carrier is a Service Bus queue with sessions (session id = the policy), so the
// host hands each policy's messages to one invocation at a time; in `apiguard serve`
// and in tests it is Memory, which gives the same guarantees in process. Log batches
// reach the traffic function on a queue of their own (or by HTTP, as one LogBatch).
package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Message asks for one target to be reconciled.
type Message struct {
	Target string `json:"target"` // the target's key (resource id or file:path)
	Reason string `json:"reason"` // why: an incident, an expiry, the periodic repair
}

// LogBatch is one batch of gateway log records as it reached apiguard: one traffic
// queue message, or one ingest request.
type LogBatch struct {
	// ID makes processing idempotent: a batch id already applied is not counted again.
	ID     string
	Body   []byte
	Format string // the log format; "" takes the configured one
}

// SessionID is the Service Bus session of a target: a fixed-length digest, since
// resource ids can exceed the 128 characters a session id may hold.
func SessionID(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "t-" + hex.EncodeToString(sum[:16])
}

// Sender publishes reconcile requests. Implementations must be safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, msgs []Message) error
}

// Decode reads one message body.
func Decode(body []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, fmt.Errorf("reconcile request: %w", err)
	}
	if m.Target == "" {
		return Message{}, fmt.Errorf("reconcile request names no target")
	}
	return m, nil
}
