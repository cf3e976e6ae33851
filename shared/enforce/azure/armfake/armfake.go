// Package armfake is a fake ARM endpoint for WAF policies programmed to behave like
// the real services, including their faults, so the ARM backends and everything above
// them are tested against the real SDK pipeline (and the SDK's typed clients work
// against it too).
//
// The policy is stored as the JSON bytes written, and GET answers them: the SDK's
// official fake servers (armnetwork/v7/fake, armfrontdoor/fake) unmarshal into typed
// models and would drop the fields their API version does not know, which is what a
// backend must be shown to keep. The service sets only what it owns (id, name, type,
// etag, properties.provisioningState); every other member keeps its bytes. Each
// Service answers through a fakearm.Transport that sees the raw request first: it
// hands the conditional headers to the handlers, answers faults as real HTTP
// responses (ARM error body, Retry-After), and keeps Front Door's concurrent
// long-running writes apart (azcore's fake poller protocol). This package holds what
// is the WAF policies' own: the policy, its ids, the handlers.
//
// What is programmed, as the services do it:
//   - every successful write gets a new ETag (W/"..."); GET returns the stored policy
//     with it in the body's etag and the ETag header;
//   - PUT with a stale If-Match answers 412 PreconditionFailed; without If-Match the
//     write is accepted (last writer wins, as the Network provider does); If-Match: *
//     is accepted because the policy exists; If-None-Match: * answers 412;
//   - GET or PUT of any other policy name answers 404 ResourceNotFound (the fake holds
//     one policy and never creates one: apiguard never does);
//   - Application Gateway's CreateOrUpdate answers 200 synchronously; Front Door's is a
//     long-running operation: 202, one more in-progress poll, then 200 with the policy.
//     The write takes effect (and the If-Match check happens) when the PUT is accepted.
//     In-progress responses carry Retry-After-Ms: 1, so pollers do not wait seconds;
//   - faults on demand: ThrottleNext (429 + Retry-After), FailNext (any status and
//     code), DropNext (connection reset), DiscardNext (a write acknowledged and lost),
//     BeforeWrite (a concurrent writer), Mutate (drift).
//
// A Service is safe for concurrent use.
package armfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// Policy is one WAF policy held by the fake service, with what it has been asked
// (Gets, Puts, Polls, Writes, Conflicts, Throttled, Failed, Discarded).
type Policy struct {
	ID   string
	Doc  []byte // wire JSON, exactly as a GET returns it
	ETag string
	fakearm.Counts
}

// policyKey names the one policy in BeforeWrite's queue.
const policyKey = "policy"

// Service is the fake ARM endpoint for one WAF policy.
type Service struct {
	kind kind
	id   string
	rg   string
	name string
	t    *fakearm.Transport

	longRunning bool // Front Door: each write is an operation with its own transport

	mu  sync.Mutex // guards everything below
	doc []byte
	tag string // the ETag
	seq int
}

var _ fakearm.Service = (*Service)(nil)

// kind is what differs between the two policy types.
type kind struct {
	name     string // "appgw" or "frontdoor"
	typeName string // as written in resource ids
	typ      string // the type property, as the service returns it
	state    string // properties.provisioningState after a write
}

func appGWKind() kind {
	return kind{name: "appgw", typeName: "ApplicationGatewayWebApplicationFirewallPolicies",
		typ: "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", state: "Succeeded"}
}

func frontDoorKind() kind {
	return kind{name: "frontdoor", typeName: "FrontDoorWebApplicationFirewallPolicies",
		typ: "Microsoft.Network/frontdoorwebapplicationfirewallpolicies", state: "Succeeded"}
}

// NewAppGW serves an Application Gateway WAF policy with the given id, starting as
// initial (its id, name, type and etag are set by the service). It panics on an id
// that is not an Application Gateway WAF policy id: a broken test setup.
func NewAppGW(id string, initial armnetwork.WebApplicationFirewallPolicy) *Service {
	return NewAppGWJSON(id, marshal(initial))
}

// NewAppGWJSON is NewAppGW starting from wire JSON, which the service keeps byte for
// byte but what it owns (id, name, type, etag, properties.provisioningState): fields
// the SDK does not know included. It panics on a document that is not a JSON object.
func NewAppGWJSON(id string, initial []byte) *Service {
	s := newService(appGWKind(), id, initial)
	s.t = fakearm.New("armfake", s.sub(), server{s}, s)
	return s
}

// NewFrontDoor serves a Front Door WAF policy with the given id, starting as initial.
// It panics on an id that is not a Front Door WAF policy id.
func NewFrontDoor(id string, initial armfrontdoor.WebApplicationFirewallPolicy) *Service {
	return NewFrontDoorJSON(id, marshal(initial))
}

// NewFrontDoorJSON is NewFrontDoor starting from wire JSON, kept as NewAppGWJSON keeps it.
func NewFrontDoorJSON(id string, initial []byte) *Service {
	s := newService(frontDoorKind(), id, initial)
	s.longRunning = true
	s.t = fakearm.New("armfake", s.sub(), server{s}, s)
	return s
}

func marshal(v any) []byte {
	doc, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("armfake: initial policy: %v", err))
	}
	return doc
}

func newService(k kind, id string, doc []byte) *Service {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	if len(segs) != 8 || !strings.EqualFold(segs[0], "subscriptions") || !strings.EqualFold(segs[2], "resourceGroups") ||
		!strings.EqualFold(segs[4], "providers") || !strings.EqualFold(segs[5], "Microsoft.Network") ||
		!strings.EqualFold(segs[6], k.typeName) {
		panic(fmt.Sprintf("armfake: %q is not a %s WAF policy id (/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/%s/{name})", id, k.name, k.typeName))
	}
	s := &Service{kind: k, id: id, rg: segs[3], name: segs[7]}
	out, etag, err := s.stamp(doc)
	if err != nil {
		panic(fmt.Sprintf("armfake: initial policy: %v", err))
	}
	s.doc, s.tag = out, etag
	return s
}

// sub is the policy's subscription.
func (s *Service) sub() string { return strings.Split(strings.Trim(s.id, "/"), "/")[1] }

// ClientOptions wires an SDK client to this service (see fakearm.Transport.ClientOptions).
func (s *Service) ClientOptions() *arm.ClientOptions { return s.t.ClientOptions() }

// Credential is a fake credential the client's bearer-token policy accepts.
func (s *Service) Credential() azcore.TokenCredential { return &azfake.TokenCredential{} }

// ID is the policy's resource id.
func (s *Service) ID() string { return s.id }

// Snapshot returns the stored policy and the counters.
func (s *Service) Snapshot() Policy {
	s.mu.Lock()
	p := Policy{ID: s.id, Doc: append([]byte(nil), s.doc...), ETag: s.tag}
	s.mu.Unlock()
	p.Counts = s.t.Counts()
	return p
}

// Current returns the stored policy as wire JSON and its ETag.
func (s *Service) Current() (doc []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.doc...), s.tag
}

// Writes counts successful PUTs (BeforeWrite and Mutate changes are not PUTs).
func (s *Service) Writes() int { return s.t.Counts().Writes }

// Conflicts counts 412s answered.
func (s *Service) Conflicts() int { return s.t.Counts().Conflicts }

// Puts counts PUT requests received, whatever their outcome: a 429 that azcore retried
// shows up here as more than one.
func (s *Service) Puts() int { return s.t.Counts().Puts }

// Gets counts GET requests of the policy (not polls).
func (s *Service) Gets() int { return s.t.Counts().Gets }

// ThrottleNext makes the next n PUTs answer 429 SubscriptionRequestsThrottled with
// Retry-After (whole seconds, rounded up; plus Retry-After-Ms when retryAfter is not a
// whole number of seconds). It replaces any earlier ThrottleNext.
func (s *Service) ThrottleNext(n int, retryAfter time.Duration) { s.t.ThrottleNext(n, retryAfter) }

// FailNext makes the next n requests (GET or PUT, not polls) answer status with the ARM
// error body carrying code: 500 InternalServerError, 503 ServiceUnavailable, 400
// InvalidResource, 403 AuthorizationFailed... It replaces any earlier FailNext.
func (s *Service) FailNext(n, status int, code string) { s.t.FailNext(n, status, code) }

// DropNext makes the next n requests (not polls) fail with a connection reset, before
// any response: what a network fault looks like to the client.
func (s *Service) DropNext(n int) { s.t.DropNext(n) }

// DiscardNext makes the next n PUTs that pass their If-Match be answered as usual (the
// policy echoed with a new ETag) and not stored: a lost write, which only reading
// back shows. It replaces any earlier DiscardNext.
func (s *Service) DiscardNext(n int) { s.t.DiscardNext(n) }

// BeforeWrite runs fn inside the next PUT that reaches the service (not throttled or
// failed), before its If-Match check: a concurrent writer (portal, IaC redeploy). If fn
// returns a document other than nil or current, it is stored first, with a new ETag,
// so the PUT's If-Match is stale. Several calls queue, one per PUT. fn must not call
// Mutate (writers are serialized); it panics on a document that is not a policy.
func (s *Service) BeforeWrite(fn func(current []byte) []byte) { s.t.BeforeWrite(policyKey, fn) }

// Mutate changes the stored policy now (drift) and gives it a new ETag. fn gets the
// current wire JSON; returning nil or the same document changes nothing. It panics on
// a document that is not a policy.
func (s *Service) Mutate(fn func(doc []byte) []byte) {
	s.t.Serialized(func() { s.mutate(fn) })
}

// Route addresses the one policy: its writes are long-running for Front Door. Another
// name is for the handlers to refuse with 404.
func (s *Service) Route(*http.Request) (fakearm.Target, *fakearm.Error) {
	return fakearm.Target{Key: policyKey, Name: s.name, LongRunning: s.longRunning}, nil
}

// Change stores a concurrent writer's change; the transport holds the writer lock.
func (s *Service) Change(_ fakearm.Target, fn func(current []byte) []byte) { s.mutate(fn) }

// Operation is a fresh transport for one Front Door write, so two writes in flight
// each have their own state.
func (s *Service) Operation() policy.Transporter { return &operation{s: s} }

// mutate runs fn on the current document and stores what it returns; the caller holds
// the writer lock, so nothing else writes in between.
func (s *Service) mutate(fn func([]byte) []byte) {
	cur, _ := s.Current()
	out := fn(append([]byte(nil), cur...))
	if out == nil || string(out) == string(cur) {
		return
	}
	doc, etag, err := s.stamp(out)
	if err != nil {
		panic(fmt.Sprintf("armfake: the changed document is not a %s WAF policy: %v", s.kind.name, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.tag = doc, etag
}

// stamp returns doc as the service would store it, with a new ETag.
func (s *Service) stamp(doc []byte) ([]byte, string, error) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	var r [8]byte
	_, _ = rand.Read(r[:])
	etag := fmt.Sprintf(`W/"%08x-%s"`, seq, hex.EncodeToString(r[:]))
	out, err := restamp(doc, s.id, s.name, s.kind.typ, etag, s.kind.state)
	return out, etag, err
}

// is reports whether a request's resource group and name address this policy (ARM
// names are case-insensitive).
func (s *Service) is(rg, name string) bool {
	return strings.EqualFold(rg, s.rg) && strings.EqualFold(name, s.name)
}

// read returns the stored policy, or the 404 ARM answers for another name.
func (s *Service) read(rg, name string) ([]byte, string, *fakearm.Error) {
	if !s.is(rg, name) {
		return nil, "", s.notFound(rg, name)
	}
	doc, etag := s.Current()
	return doc, etag, nil
}

// write applies a PUT's body under the request's conditions, as the resource provider
// does; the caller (a handler) runs under the transport's writer lock.
func (s *Service) write(ctx context.Context, rg, name string, doc []byte) ([]byte, string, *fakearm.Error) {
	if !s.is(rg, name) {
		return nil, "", s.notFound(rg, name)
	}
	_, cur := s.Current()
	if !fakearm.ConditionsHold(ctx, cur, true) {
		return nil, "", &fakearm.Error{Status: http.StatusPreconditionFailed, Code: "PreconditionFailed",
			Message: "The condition specified using HTTP conditional header(s) is not met."}
	}
	out, etag, err := s.stamp(doc)
	if err != nil {
		return nil, "", &fakearm.Error{Status: http.StatusBadRequest, Code: "InvalidRequestContent",
			Message: "The request content was invalid and could not be deserialized: " + err.Error()}
	}
	if fakearm.Acknowledge(ctx, etag) {
		s.mu.Lock()
		s.doc, s.tag = out, etag
		s.mu.Unlock()
	}
	return out, etag, nil
}

func (s *Service) notFound(rg, name string) *fakearm.Error {
	return &fakearm.Error{Status: http.StatusNotFound, Code: "ResourceNotFound",
		Message: fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
			s.kind.typ, name, rg)}
}
