// Package azureapim implements enforce.Backend over Azure API Management: the policy
// document at one scope (global, product, API, operation) and the policy fragment
// apiguard owns, read and written whole as raw XML through the SDK clients, with
// If-Match on every update and errors mapped to the enforce contract.
//
// Documents are raw XML (format rawxml) because real policies are not well-formed XML:
// C# expressions and {{named values}} would be escaped or refused in the xml format.
// This package moves bytes and never parses them; the edit itself (the include-fragment
// line) is the caller's.
//
// Package apimfake holds the SDK's official fake servers programmed like the service,
// for tests here and elsewhere.
package azureapim

import (
	"context"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/armfault"
	"github.com/apiguard/apiguard/shared/fault"
)

// DefaultPollFrequency is how often a fragment write is polled when the service's
// responses name no Retry-After.
const DefaultPollFrequency = 5 * time.Second

// FragmentDescription is written with every fragment, so whoever finds it in the
// portal knows that editing it is pointless.
const FragmentDescription = "Managed by apiguard: edits are overwritten"

// Option tunes a backend.
type Option func(*settings)

type settings struct {
	pollEvery time.Duration
	now       func() time.Time
}

// PollFrequency sets how often a fragment write is polled when the service gives no
// Retry-After. The SDK refuses less than one second outside tests.
func PollFrequency(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.pollEvery = d
		}
	}
}

// Clock sets the clock that turns an HTTP-date Retry-After without a Date header
// into a delay (default time.Now).
func Clock(now func() time.Time) Option {
	return func(s *settings) {
		if now != nil {
			s.now = now
		}
	}
}

func newSettings(options []Option) settings {
	set := settings{pollEvery: DefaultPollFrequency, now: time.Now}
	for _, o := range options {
		o(&set)
	}
	return set
}

// conditional turns the Backend's etag into the write's condition: If-Match: etag
// through the client option, or, for "" (absent when read), If-None-Match: * so the
// write creates and never overwrites a document that appeared in between. The SDK
// options have no IfNoneMatch, so that header is added per call.
func conditional(ctx context.Context, etag string) (context.Context, *string) {
	if etag == "" {
		return policy.WithHTTPHeader(ctx, http.Header{"If-None-Match": {"*"}}), nil
	}
	return ctx, &etag
}

// checkDoc refuses, without a request, what the service could only store damaged: an
// empty document (deleting is not a Put) or invalid UTF-8 (JSON encoding would replace
// the bad bytes, so the stored policy would differ from the one computed).
func checkDoc(target string, doc []byte) error {
	switch {
	case len(doc) == 0:
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("write %s: empty document", target))
	case !utf8.Valid(doc):
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("write %s: document is not valid UTF-8", target))
	}
	return nil
}

// readValue takes the document out of a read. The format must be rawxml (or unstated):
// any other format is escaped XML, and editing it as text would corrupt the policy.
func readValue(target string, format *string, value *string, etag *string) (enforce.Policy, error) {
	if format != nil && *format != "rawxml" {
		return enforce.Policy{}, fault.Rejected(http.StatusBadGateway,
			fmt.Errorf("read %s: the service answered format %q, not rawxml; refusing to edit an escaped document", target, *format))
	}
	if etag == nil || *etag == "" {
		// Without an ETag the update could not be conditional.
		return enforce.Policy{}, fault.Transient(fmt.Errorf("read %s: the service returned no ETag", target))
	}
	doc := []byte{} // present, even when empty: nil means absent
	if value != nil {
		doc = []byte(*value)
	}
	return enforce.Policy{Doc: doc, ETag: *etag}, nil
}

// checkInputs refuses what cannot work before any client exists.
func checkInputs(svc Service, cred azcore.TokenCredential, what string) error {
	if err := svc.validate(); err != nil {
		return err
	}
	if cred == nil {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("%s: no credential", what))
	}
	return nil
}

// policyBackend is the policy document at one scope. The four scopes have four SDK
// clients with the same shape; get and put close over the right one.
type policyBackend struct {
	target string
	set    settings
	get    func(ctx context.Context) (armapimanagement.PolicyContract, *string, error)
	put    func(ctx context.Context, p armapimanagement.PolicyContract, ifMatch *string) (*string, error)
}

var _ enforce.Backend = (*policyBackend)(nil)

// NewPolicyBackend returns the backend for the policy document at scope in svc. It
// does no network I/O: the client connects on first use. opts may be nil; 429 is taken
// out of its retries (see armfault.ClientOptions).
func NewPolicyBackend(svc Service, scope Scope, cred azcore.TokenCredential, opts *arm.ClientOptions, options ...Option) (enforce.Backend, error) {
	target := fmt.Sprintf("APIM policy at %s of service %s", scope, svc.Name)
	if err := checkInputs(svc, cred, target); err != nil {
		return nil, err
	}
	if err := scope.validate(); err != nil {
		return nil, err
	}
	b := &policyBackend{target: target, set: newSettings(options)}
	copts := armfault.ClientOptions(opts)
	rg, name, id := svc.ResourceGroup, svc.Name, armapimanagement.PolicyIDNamePolicy
	export := to.Ptr(armapimanagement.PolicyExportFormatRawxml)
	var err error
	switch {
	case scope.IsGlobal():
		var c *armapimanagement.PolicyClient
		if c, err = armapimanagement.NewPolicyClient(svc.Subscription, cred, copts); err == nil {
			b.get = func(ctx context.Context) (armapimanagement.PolicyContract, *string, error) {
				r, err := c.Get(ctx, rg, name, id, &armapimanagement.PolicyClientGetOptions{Format: export})
				return r.PolicyContract, r.ETag, err
			}
			b.put = func(ctx context.Context, p armapimanagement.PolicyContract, ifMatch *string) (*string, error) {
				r, err := c.CreateOrUpdate(ctx, rg, name, id, p, &armapimanagement.PolicyClientCreateOrUpdateOptions{IfMatch: ifMatch})
				return r.ETag, err
			}
		}
	case scope.Product != "":
		var c *armapimanagement.ProductPolicyClient
		if c, err = armapimanagement.NewProductPolicyClient(svc.Subscription, cred, copts); err == nil {
			b.get = func(ctx context.Context) (armapimanagement.PolicyContract, *string, error) {
				r, err := c.Get(ctx, rg, name, scope.Product, id, &armapimanagement.ProductPolicyClientGetOptions{Format: export})
				return r.PolicyContract, r.ETag, err
			}
			b.put = func(ctx context.Context, p armapimanagement.PolicyContract, ifMatch *string) (*string, error) {
				r, err := c.CreateOrUpdate(ctx, rg, name, scope.Product, id, p, &armapimanagement.ProductPolicyClientCreateOrUpdateOptions{IfMatch: ifMatch})
				return r.ETag, err
			}
		}
	case scope.Operation != "":
		var c *armapimanagement.APIOperationPolicyClient
		if c, err = armapimanagement.NewAPIOperationPolicyClient(svc.Subscription, cred, copts); err == nil {
			b.get = func(ctx context.Context) (armapimanagement.PolicyContract, *string, error) {
				r, err := c.Get(ctx, rg, name, scope.API, scope.Operation, id, &armapimanagement.APIOperationPolicyClientGetOptions{Format: export})
				return r.PolicyContract, r.ETag, err
			}
			b.put = func(ctx context.Context, p armapimanagement.PolicyContract, ifMatch *string) (*string, error) {
				r, err := c.CreateOrUpdate(ctx, rg, name, scope.API, scope.Operation, id, p, &armapimanagement.APIOperationPolicyClientCreateOrUpdateOptions{IfMatch: ifMatch})
				return r.ETag, err
			}
		}
	default:
		var c *armapimanagement.APIPolicyClient
		if c, err = armapimanagement.NewAPIPolicyClient(svc.Subscription, cred, copts); err == nil {
			b.get = func(ctx context.Context) (armapimanagement.PolicyContract, *string, error) {
				r, err := c.Get(ctx, rg, name, scope.API, id, &armapimanagement.APIPolicyClientGetOptions{Format: export})
				return r.PolicyContract, r.ETag, err
			}
			b.put = func(ctx context.Context, p armapimanagement.PolicyContract, ifMatch *string) (*string, error) {
				r, err := c.CreateOrUpdate(ctx, rg, name, scope.API, id, p, &armapimanagement.APIPolicyClientCreateOrUpdateOptions{IfMatch: ifMatch})
				return r.ETag, err
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", target, err)
	}
	return b, nil
}

// Get returns the raw XML document and its ETag; a scope with no policy (404) is
// Doc nil and ETag "", which is normal for product, API and operation scopes. A missing
// product, API or operation reads the same way: it surfaces as a 404 on Put.
func (b *policyBackend) Get(ctx context.Context) (enforce.Policy, error) {
	p, etag, err := b.get(ctx)
	if absent(err) {
		return enforce.Policy{}, nil
	}
	if err != nil {
		return enforce.Policy{}, classify("read", b.target, err, b.set.now(), "")
	}
	var format, value *string
	if p.Properties != nil {
		format, value = (*string)(p.Properties.Format), p.Properties.Value
	}
	return readValue(b.target, format, value, etag)
}

// Put writes doc whole as rawxml with If-Match: etag, or creates it only if still
// absent when etag is "", and returns the new ETag.
func (b *policyBackend) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if err := checkDoc(b.target, doc); err != nil {
		return "", err
	}
	wctx, ifMatch := conditional(ctx, etag)
	p := armapimanagement.PolicyContract{Properties: &armapimanagement.PolicyContractProperties{
		Format: to.Ptr(armapimanagement.PolicyContentFormatRawxml),
		Value:  to.Ptr(string(doc)),
	}}
	newETag, err := b.put(wctx, p, ifMatch)
	if err != nil {
		return "", classify("write", b.target, err, b.set.now(),
			"the service and the scope's product, API or operation must exist: apiguard writes policies, never the entities they belong to")
	}
	if newETag == nil {
		// The service always sends one; "" leaves it to the caller's read-back.
		return "", nil
	}
	return *newETag, nil
}

// fragmentBackend is the policy fragment apiguard owns.
type fragmentBackend struct {
	target string
	rg     string
	name   string
	id     string
	client *armapimanagement.PolicyFragmentClient
	set    settings
}

var _ enforce.Backend = (*fragmentBackend)(nil)

// NewFragmentBackend returns the backend for the policy fragment fragmentID in svc,
// which apiguard owns whole (and creates when absent). It does no network I/O. opts
// may be nil; 429 is taken out of its retries (see armfault.ClientOptions).
func NewFragmentBackend(svc Service, fragmentID string, cred azcore.TokenCredential, opts *arm.ClientOptions, options ...Option) (enforce.Backend, error) {
	target := fmt.Sprintf("APIM policy fragment %s of service %s", fragmentID, svc.Name)
	if err := checkInputs(svc, cred, target); err != nil {
		return nil, err
	}
	if err := checkFragmentID(fragmentID); err != nil {
		return nil, fault.Rejected(http.StatusBadRequest, err)
	}
	c, err := armapimanagement.NewPolicyFragmentClient(svc.Subscription, cred, armfault.ClientOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", target, err)
	}
	return &fragmentBackend{target: target, rg: svc.ResourceGroup, name: svc.Name, id: fragmentID, client: c, set: newSettings(options)}, nil
}

// Get returns the fragment's raw XML and ETag; an absent fragment (404) is Doc nil
// and ETag "".
func (b *fragmentBackend) Get(ctx context.Context) (enforce.Policy, error) {
	r, err := b.client.Get(ctx, b.rg, b.name, b.id, &armapimanagement.PolicyFragmentClientGetOptions{
		Format: to.Ptr(armapimanagement.PolicyFragmentContentFormatRawxml),
	})
	if absent(err) {
		return enforce.Policy{}, nil
	}
	if err != nil {
		return enforce.Policy{}, classify("read", b.target, err, b.set.now(), "")
	}
	var format, value *string
	if p := r.Properties; p != nil {
		format, value = (*string)(p.Format), p.Value
	}
	return readValue(b.target, format, value, r.ETag)
}

// Put writes the fragment with If-Match: etag (or creates it only if absent, for ""),
// polls the long-running write to the end and returns the new ETag. Only the initial
// PUT carries the condition: the polls are GETs of the operation. The ETag comes from
// the last response that carries one (the SDK's result type has none); "" if none did.
func (b *fragmentBackend) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if err := checkDoc(b.target, doc); err != nil {
		return "", err
	}
	wctx, ifMatch := conditional(ctx, etag)
	f := armapimanagement.PolicyFragmentContract{Properties: &armapimanagement.PolicyFragmentContractProperties{
		Format:      to.Ptr(armapimanagement.PolicyFragmentContentFormatRawxml),
		Value:       to.Ptr(string(doc)),
		Description: to.Ptr(FragmentDescription),
	}}
	const missing = "the APIM service must exist; check the id and the identity's access"
	var first, last *http.Response
	poller, err := b.client.BeginCreateOrUpdate(policy.WithCaptureResponse(wctx, &first), b.rg, b.name, b.id, f,
		&armapimanagement.PolicyFragmentClientBeginCreateOrUpdateOptions{IfMatch: ifMatch})
	if err != nil {
		return "", classify("write", b.target, err, b.set.now(), missing)
	}
	if _, err := poller.PollUntilDone(policy.WithCaptureResponse(ctx, &last), &runtime.PollUntilDoneOptions{Frequency: b.set.pollEvery}); err != nil {
		return "", classify("write", b.target, err, b.set.now(), missing)
	}
	for _, r := range []*http.Response{last, first} {
		if r != nil && r.Header.Get("ETag") != "" {
			return r.Header.Get("ETag"), nil
		}
	}
	return "", nil
}
