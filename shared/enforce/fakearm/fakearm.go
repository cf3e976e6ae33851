// Package fakearm is the plumbing every fake Azure Resource Manager endpoint of apiguard
// shares (armfake for WAF policies, apimfake for API Management policies): a
// policy.Transporter that stands in front of the SDK's official fake servers and does
// what they cannot.
//
// The official fakes' handlers never see request headers, they report errors as Go
// errors that bypass azcore's retry policy, and they track a long-running operation by
// the resource's path, so two writes of one resource in flight would share one. A
// Transport therefore sees every request first:
//   - it answers programmed faults itself as real HTTP responses: ThrottleNext (429
//     with Retry-After), FailNext (any status and ARM error code), DropNext (a
//     connection reset), so azcore's retry policy and runtime.NewResponseError see
//     what they would see from Azure;
//   - it hands the request's conditional headers (If-Match, If-None-Match) to the
//     handlers through the request context, and takes back the ARM error to answer
//     (Reject) and the ETag a write stored (Acknowledge); ConditionsHold evaluates
//     the conditions as ARM does and counts the conflicts;
//   - it serializes writers (PUTs, concurrent writers queued with BeforeWrite, and
//     the service's own Serialized changes), so a concurrent change and the If-Match
//     check are one step, as in a resource provider;
//   - it loses writes on demand (DiscardNext): acknowledged, not stored, what only a
//     read-back shows;
//   - it never answers a request whose context is already done, as net/http never
//     sends one, so a cancelled call cannot write;
//   - it gives every long-running write its own official fake transport, names the
//     operation in the poll path, answers in-progress polls 202 with Retry-After-Ms: 1
//     (pollers honour it over their own frequency, so tests do not wait seconds), and
//     puts the write's ETag on the final poll (the SDK's LRO results have none).
//
// What differs between services (which document a request addresses, how a concurrent
// writer's change is stored, which official transport runs one operation) is the
// Service the Transport is built with.
package fakearm

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Target is the document one request addresses.
type Target struct {
	Key         string // names the document; BeforeWrite queues per key ("": none)
	Name        string // the document's name as the request wrote it
	LongRunning bool   // a PUT of it is a long-running operation
}

// Service is what a Transport needs of the fake service behind it.
type Service interface {
	// Route tells which document req addresses, or the ARM error to answer instead
	// (another subscription, say). A path it does not know is a zero Target: the
	// official fake answers it.
	Route(req *http.Request) (Target, *Error)
	// Change stores fn(current) as the document of t, with a new ETag, as a concurrent
	// writer does; current is nil when absent, and nil or the same document back
	// changes nothing. The Transport holds the writer lock.
	Change(t Target, fn func(current []byte) []byte)
	// Operation returns a new official fake transport for one long-running write.
	Operation() policy.Transporter
}

// Counts is what a fake service has been asked and how it answered.
type Counts struct {
	Gets      int // GET requests (polls of long-running writes not counted)
	Puts      int // PUT requests, whatever their outcome
	Polls     int // polls of long-running writes
	Writes    int // PUTs that stored a document
	Conflicts int // 412s answered
	Throttled int // 429s answered
	Failed    int // programmed failures answered (FailNext, DropNext)
	Discarded int // writes acknowledged and lost (DiscardNext)
}

// Transport answers an SDK client for one fake service. It is safe for concurrent use.
type Transport struct {
	name  string // the fake's package name, in its own messages
	sub   string // the subscription, in throttling messages
	inner policy.Transporter
	svc   Service

	writeMu sync.Mutex // serializes writers; see Serialized

	mu         sync.Mutex // guards everything below
	counts     Counts
	throttleN  int
	throttleD  time.Duration
	failN      int
	failStatus int
	failCode   string
	dropN      int
	discardN   int
	before     map[string][]func([]byte) []byte
	ops        map[int]*operation // long-running writes in progress
	nextOp     int
}

var _ policy.Transporter = (*Transport)(nil)

// New returns the transport of svc: inner is the official fake transport for every
// request but long-running writes; name (the fake's package) and subscription appear
// in the messages it answers with.
func New(name, subscription string, inner policy.Transporter, svc Service) *Transport {
	return &Transport{
		name: name, sub: subscription, inner: inner, svc: svc,
		before: map[string][]func([]byte) []byte{},
		ops:    map[int]*operation{},
	}
}

// ClientOptions wires an SDK client to this transport. azcore's retry policy stays as
// configured in production (its behaviour is part of what is tested) except for a
// 1 ms base delay, so retried 5xx and dropped connections do not slow tests down.
// MaxRetryDelay keeps its default on purpose: azcore gives up at once on a Retry-After
// above it, which would hide whether 429 is in the retried status codes.
func (t *Transport) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: t,
		Retry:     policy.RetryOptions{RetryDelay: time.Millisecond},
	}}
}

// Counts returns the counters.
func (t *Transport) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

// ThrottleNext makes the next n PUTs answer 429 SubscriptionRequestsThrottled with
// Retry-After (whole seconds, rounded up; plus Retry-After-Ms when retryAfter is not a
// whole number of seconds). It replaces any earlier ThrottleNext.
func (t *Transport) ThrottleNext(n int, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.throttleN, t.throttleD = n, retryAfter
}

// FailNext makes the next n requests (GET or PUT, not polls) answer status with the
// ARM error body carrying code. It replaces any earlier FailNext.
func (t *Transport) FailNext(n, status int, code string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failN, t.failStatus, t.failCode = n, status, code
}

// DropNext makes the next n requests (not polls) fail with a connection reset, before
// any response: what a network fault looks like to the client.
func (t *Transport) DropNext(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropN = n
}

// DiscardNext makes the next n writes that pass their conditions be acknowledged as
// usual (the document echoed, a new ETag) and not stored: a lost write, which only
// reading back shows. It replaces any earlier DiscardNext.
func (t *Transport) DiscardNext(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.discardN = n
}

// BeforeWrite queues fn to run inside the next PUT of the document key that reaches
// the service (not throttled or failed), before its conditions are checked: a
// concurrent writer (portal, IaC redeploy). Its change is stored through
// Service.Change. Several calls queue, one per PUT.
func (t *Transport) BeforeWrite(key string, fn func(current []byte) []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.before[key] = append(t.before[key], fn)
}

// Serialized runs fn as one writer: no PUT is checked or applied while it runs. The
// service's own changes (seeds, drift) go through it.
func (t *Transport) Serialized(fn func()) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	fn()
}

func (t *Transport) popBefore(key string) func([]byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.before[key]
	if len(q) == 0 {
		return nil
	}
	t.before[key] = q[1:]
	return q[0]
}

// Do answers programmed faults itself, hands the conditional headers to the handlers,
// serializes writes and runs concurrent writers, and gives every long-running write
// its own official fake transport.
func (t *Transport) Do(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err // as net/http does: a cancelled request is never sent
	}
	if strings.HasSuffix(req.URL.Path, pollSuffix) {
		return t.poll(req)
	}
	if resp, err := t.fault(req); resp != nil || err != nil {
		return resp, err
	}
	tg, fail := t.svc.Route(req)
	if fail != nil {
		return fail.Response(req), nil
	}
	ex := &exchange{t: t, cond: conditionsOf(req)}
	inner, op := t.inner, 0
	if req.Method == http.MethodPut {
		t.writeMu.Lock()
		defer t.writeMu.Unlock()
		if tg.Key != "" {
			if fn := t.popBefore(tg.Key); fn != nil {
				t.svc.Change(tg, fn)
			}
		}
		if tg.LongRunning {
			op, inner = t.startOp()
		}
	}
	resp, err := inner.Do(req.WithContext(context.WithValue(req.Context(), exchangeKey{}, ex)))
	switch {
	case err != nil && req.Context().Err() != nil:
		t.endOp(op) // the handler may still run; ex is not read
		return nil, err
	case ex.fail != nil:
		t.endOp(op)
		return ex.fail.Response(req), nil
	case err != nil:
		t.endOp(op)
		return nil, err
	}
	if ex.etag != "" {
		resp.Header.Set("ETag", ex.etag)
	}
	if op != 0 {
		return t.started(op, ex.etag, resp), nil
	}
	return resp, nil
}

// fault counts the request and answers it when a fault is programmed (nil, nil: go on).
func (t *Transport) fault(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	put := req.Method == http.MethodPut
	if put {
		t.counts.Puts++
	} else if req.Method == http.MethodGet {
		t.counts.Gets++
	}
	switch {
	case t.dropN > 0:
		t.dropN--
		t.counts.Failed++
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case t.failN > 0:
		t.failN--
		t.counts.Failed++
		e := &Error{Status: t.failStatus, Code: t.failCode, Message: t.name + ": programmed failure"}
		return e.Response(req), nil
	case put && t.throttleN > 0:
		t.throttleN--
		t.counts.Throttled++
		return Throttled(t.sub, t.throttleD).Response(req), nil
	}
	return nil, nil
}
