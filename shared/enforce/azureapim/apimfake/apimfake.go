// Package apimfake runs the Azure SDK's official fake servers for API Management
// policies (armapimanagement/v3/fake: PolicyServer, ProductPolicyServer,
// APIPolicyServer, APIOperationPolicyServer, PolicyFragmentServer) programmed to behave
// like the service, including its faults, so the APIM backends and everything above
// them are tested against the real SDK clients and pipeline.
//
// The official handlers never see If-None-Match, and they report errors as Go errors
// that bypass azcore's retry policy. So a Service answers through a fakearm.Transport
// that sees the raw request first: it hands the conditional headers to the handlers,
// answers faults as real HTTP responses (ARM error body, Retry-After), runs concurrent
// writers, and keeps concurrent long-running fragment writes apart. This package holds
// what is API Management's own: the documents, the entities, the paths, the handlers.
//
// What is programmed, as the service does it:
//   - one policy document per scope (global, product, API, operation) and named policy
//     fragments; the global policy starts as APIM's default (DefaultGlobalPolicy);
//   - products, APIs and operations exist when declared (AddScope) or seeded
//     (SetPolicy, Mutate); reading or writing the policy of one that does not exist,
//     of another resource group or service, answers 404, and so does reading a policy
//     or fragment that is absent (ResourceNotFound, as APIM does);
//   - every successful write gets a new ETag ("AAAAAAAAAAE=", APIM's shape), returned
//     in the ETag header; PUT with a stale If-Match, or any If-Match on an absent
//     document, answers 412 PreconditionFailed; If-None-Match: * on a present one
//     answers 412; no condition at all overwrites (last writer wins);
//   - a PUT body in format rawxml is stored as sent; format xml (or none) must be
//     well-formed XML; the root must be <policies> (or <fragment> for a fragment), and
//     the size at most 256 KiB (32 KiB for a fragment): else 400 ValidationError;
//   - GET with format=rawxml returns the document as stored; any other format returns
//     it XML-escaped the way APIM escapes expressions (approximated: "&&" and "=>"
//     come back as "&amp;&amp;" and "=&gt;"), so a caller that forgets rawxml notices;
//   - a fragment's create/update is a long-running operation: the PUT answers 201 with
//     the operation in progress (the SDK accepts only 200/201 on that PUT, so not 202),
//     one poll answers 202, the next 200 with the fragment. The write takes effect, and
//     the If-Match check happens, when the PUT is accepted. In-progress responses carry
//     Retry-After-Ms: 1, so pollers do not wait seconds;
//   - Reserialize(true): documents written by PUT are stored (and read back) with CRLF
//     line endings, as the service's formatting does, so callers must compare by meaning;
//   - faults on demand: ThrottleNext (429 + Retry-After), FailNext (any status and
//     code), DropNext (connection reset), DiscardNext (a write acknowledged and lost),
//     BeforeWrite (a concurrent writer), Mutate (drift).
//
// A Service is safe for concurrent use.
package apimfake

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	sdkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3/fake"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// DefaultGlobalPolicy is the global policy a new APIM instance has.
const DefaultGlobalPolicy = "<!--\n    IMPORTANT:\n    - Policy elements can appear only within the <inbound>, <outbound>, <backend> section elements.\n" +
	"    - Only the <forward-request> policy element can appear within the <backend> section element.\n-->\n" +
	"<policies>\n\t<inbound></inbound>\n\t<backend>\n\t\t<forward-request />\n\t</backend>\n\t<outbound></outbound>\n\t<on-error></on-error>\n</policies>"

// Counts is what the service has been asked and how it answered.
type Counts = fakearm.Counts

// Service is the fake ARM endpoint for one APIM instance's policies and fragments.
type Service struct {
	svc azureapim.Service
	srv *sdkfake.ServerFactory
	t   *fakearm.Transport

	mu          sync.Mutex // guards everything below
	docs        map[string]*document
	entities    map[string]bool // products/{p}, apis/{a}, apis/{a}/operations/{o}, lower case
	seq         uint64
	reserialize bool
}

var _ fakearm.Service = (*Service)(nil)

// document is one stored policy or fragment.
type document struct {
	name        string // the scope or fragment id as first written (APIM keeps the case)
	value       []byte
	etag        string
	description string // fragments only
}

// New serves the APIM instance svc with the default global policy and nothing else.
// It panics on an invalid service: a broken test setup.
func New(svc azureapim.Service) *Service {
	if _, err := azureapim.ParseServiceID(svc.String()); err != nil {
		panic(fmt.Sprintf("apimfake: %v", err))
	}
	s := &Service{
		svc:      svc,
		docs:     map[string]*document{},
		entities: map[string]bool{},
	}
	s.srv = s.servers()
	s.t = fakearm.New("apimfake", svc.Subscription, sdkfake.NewServerFactoryTransport(s.srv), s)
	s.storeLocked(policyKey(azureapim.Global), azureapim.Global.String(), []byte(DefaultGlobalPolicy), "", s.nextETagLocked())
	return s
}

// ClientOptions wires an SDK client to this service (see fakearm.Transport.ClientOptions).
func (s *Service) ClientOptions() *arm.ClientOptions { return s.t.ClientOptions() }

// Credential is a fake credential the client's bearer-token policy accepts.
func (s *Service) Credential() azcore.TokenCredential { return &azfake.TokenCredential{} }

// Service is the APIM instance served.
func (s *Service) Service() azureapim.Service { return s.svc }

// Policy returns the document stored at scope, its ETag, and whether there is one.
func (s *Service) Policy(scope azureapim.Scope) (doc []byte, etag string, ok bool) {
	return s.get(policyKey(scope))
}

// Fragment returns the fragment's stored value, its ETag, and whether it exists.
func (s *Service) Fragment(id string) (doc []byte, etag string, ok bool) {
	return s.get(fragmentKey(id))
}

// Description returns the fragment's description ("" when absent).
func (s *Service) Description(fragmentID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.docs[fragmentKey(fragmentID)]; d != nil {
		return d.description
	}
	return ""
}

func (s *Service) get(key string) ([]byte, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[key]
	if d == nil {
		return nil, "", false
	}
	return append([]byte(nil), d.value...), d.etag, true
}

// Counts returns the counters.
func (s *Service) Counts() Counts { return s.t.Counts() }

// Writes counts successful PUTs of policies and fragments (seeds, BeforeWrite and
// Mutate are not PUTs).
func (s *Service) Writes() int { return s.Counts().Writes }

// Conflicts counts 412s answered.
func (s *Service) Conflicts() int { return s.Counts().Conflicts }

// AddScope declares that the products, APIs and operations of scopes exist (with no
// policy yet). An operation's API is declared with it. The global scope always exists.
func (s *Service) AddScope(scopes ...azureapim.Scope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range scopes {
		s.addEntityLocked(sc)
	}
}

func (s *Service) addEntityLocked(sc azureapim.Scope) {
	switch {
	case sc.Product != "":
		s.entities[strings.ToLower("products/"+sc.Product)] = true
	case sc.API != "":
		s.entities[strings.ToLower("apis/"+sc.API)] = true
		if sc.Operation != "" {
			s.entities[strings.ToLower("apis/"+sc.API+"/operations/"+sc.Operation)] = true
		}
	}
}

// SetPolicy stores doc at scope as it is (a seed: the customer's existing policy) with
// a new ETag, declaring the scope's product, API or operation. A nil doc removes the
// policy (the entity stays).
func (s *Service) SetPolicy(scope azureapim.Scope, doc []byte) {
	s.t.Serialized(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.addEntityLocked(scope)
		if doc == nil {
			delete(s.docs, policyKey(scope))
			return
		}
		s.storeLocked(policyKey(scope), scope.String(), doc, "", s.nextETagLocked())
	})
}

// SetFragment stores doc as fragment id as it is, with a new ETag; nil removes it.
func (s *Service) SetFragment(id string, doc []byte) {
	s.t.Serialized(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if doc == nil {
			delete(s.docs, fragmentKey(id))
			return
		}
		s.storeLocked(fragmentKey(id), id, doc, "", s.nextETagLocked())
	})
}

// Reserialize turns the service's formatting quirk on or off: when on, documents
// written by PUT are stored, and read back, with CRLF line endings.
func (s *Service) Reserialize(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserialize = on
}

// ThrottleNext makes the next n PUTs answer 429 SubscriptionRequestsThrottled with
// Retry-After (whole seconds, rounded up; plus Retry-After-Ms when retryAfter is not a
// whole number of seconds). It replaces any earlier ThrottleNext.
func (s *Service) ThrottleNext(n int, retryAfter time.Duration) { s.t.ThrottleNext(n, retryAfter) }

// FailNext makes the next n requests (GET or PUT, not polls) answer status with the ARM
// error body carrying code: 500 InternalServerError, 503 ServiceUnavailable, 400
// ValidationError, 403 AuthorizationFailed... It replaces any earlier FailNext.
func (s *Service) FailNext(n, status int, code string) { s.t.FailNext(n, status, code) }

// DropNext makes the next n requests (not polls) fail with a connection reset, before
// any response: what a network fault looks like to the client.
func (s *Service) DropNext(n int) { s.t.DropNext(n) }

// DiscardNext makes the next n PUTs that pass their conditions be answered as usual
// (the document echoed with a new ETag) and not stored: a lost write, which only
// reading back shows. It replaces any earlier DiscardNext.
func (s *Service) DiscardNext(n int) { s.t.DiscardNext(n) }

// BeforeWrite runs fn inside the next PUT of the policy at scope that reaches the
// service (not throttled or failed), before its If-Match check: a concurrent writer
// (portal, IaC redeploy). fn gets the stored document (nil when absent); if it returns
// a document other than nil or the current one, that is stored first, with a new ETag,
// so the PUT's If-Match is stale (or its If-None-Match fails). Several calls queue, one
// per PUT. fn runs on the caller's goroutine and must not call Mutate or SetPolicy.
func (s *Service) BeforeWrite(scope azureapim.Scope, fn func(current []byte) []byte) {
	s.t.BeforeWrite(policyKey(scope), fn)
}

// BeforeFragmentWrite is BeforeWrite for the fragment id.
func (s *Service) BeforeFragmentWrite(id string, fn func(current []byte) []byte) {
	s.t.BeforeWrite(fragmentKey(id), fn)
}

// Mutate changes the policy at scope now (drift) and gives it a new ETag, declaring
// the scope's entity. fn gets the stored document (nil when absent); returning nil or
// the same document changes nothing.
func (s *Service) Mutate(scope azureapim.Scope, fn func(doc []byte) []byte) {
	s.t.Serialized(func() { s.mutate(policyKey(scope), scope.String(), fn) })
}

// MutateFragment is Mutate for the fragment id.
func (s *Service) MutateFragment(id string, fn func(doc []byte) []byte) {
	s.t.Serialized(func() { s.mutate(fragmentKey(id), id, fn) })
}

// mutate runs fn on the current document and stores what it returns; the caller holds
// the transport's writer lock, so nothing else writes in between.
func (s *Service) mutate(key, name string, fn func([]byte) []byte) {
	cur, _, ok := s.get(key)
	var in []byte
	if ok {
		in = append([]byte{}, cur...)
	}
	out := fn(in)
	if out == nil || (ok && string(out) == string(cur)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, err := azureapim.ParseScope(name); err == nil && strings.HasPrefix(key, "policy:") {
		s.addEntityLocked(sc)
	}
	desc := ""
	if d := s.docs[key]; d != nil {
		desc = d.description
	}
	s.storeLocked(key, name, out, desc, s.nextETagLocked())
}

// nextETagLocked is a new ETag in APIM's shape. The caller holds mu.
func (s *Service) nextETagLocked() string {
	s.seq++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.seq)
	return `"` + base64.StdEncoding.EncodeToString(b[:]) + `"`
}

// storeLocked keeps value under key with etag. The caller holds mu (or owns s).
func (s *Service) storeLocked(key, name string, value []byte, description, etag string) {
	d := s.docs[key]
	if d == nil {
		d = &document{name: name}
		s.docs[key] = d
	}
	d.value, d.etag, d.description = append([]byte(nil), value...), etag, description
}

// policyKey and fragmentKey name stored documents; APIM ids are case-insensitive.
func policyKey(scope azureapim.Scope) string { return "policy:" + strings.ToLower(scope.String()) }
func fragmentKey(id string) string           { return "fragment:" + strings.ToLower(id) }

// crlf is the service's line-ending formatting: every line break becomes CRLF.
func crlf(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// notFound is APIM's 404 for an absent entity, policy or fragment.
func notFound(msg string) *fakearm.Error {
	return &fakearm.Error{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: msg}
}
