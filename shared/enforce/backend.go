// Package enforce brings enforcement points (WAF policies now, APIM later) to match the
// desired blocks: read the policy with its ETag, compute the owned part, write only
// when it differs, with If-Match, read back and verify, retry on conflicts and
// throttling. One writer per policy is guaranteed by the caller (a Service Bus session
// per policy under the Functions host, one worker per target in serve).
package enforce

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy is a policy document as the backend stores it (wire JSON) and its ETag.
type Policy struct {
	Doc  []byte
	ETag string
}

// Backend reads and writes one policy document.
//
// Get returns the whole document and its current ETag. Put writes the whole document
// on condition that the stored ETag still equals etag (If-Match), and returns the new
// ETag. An empty etag means the policy was absent when read: the file and APIM
// backends create it, only while it is still absent; the ARM WAF backends refuse (and
// reject a Get of a missing policy), since apiguard never creates WAF policies. A
// failed condition returns an error wrapping ErrPrecondition; throttling returns a
// *ThrottledError; a done context returns its error at once; other failures carry a
// fault disposition. Every implementation runs the contract suite in
// enforce/backendtest.
type Backend interface {
	Get(ctx context.Context) (Policy, error)
	Put(ctx context.Context, doc []byte, etag string) (string, error)
}

// ErrPrecondition means the policy changed since it was read (HTTP 412).
var ErrPrecondition = errors.New("policy changed since it was read (412 precondition failed)")

// ThrottledError means the service asked us to wait (HTTP 429 with Retry-After).
type ThrottledError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled, retry after %s: %v", e.RetryAfter, e.Err)
}
func (e *ThrottledError) Unwrap() error { return e.Err }
