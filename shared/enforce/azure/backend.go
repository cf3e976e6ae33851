// Package azure implements enforce.Backend over Azure Resource Manager: Application
// Gateway and Front Door WAF policies, read and written whole through the SDK clients,
// with If-Match on every write and errors mapped to the enforce contract.
//
// Package armfake holds the SDK's official fake servers programmed like the real
// services, for tests here and elsewhere.
package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/armfault"
	"github.com/apiguard/apiguard/shared/fault"
)

// DefaultPollFrequency is how often a Front Door write is polled when the service's
// responses name no Retry-After.
const DefaultPollFrequency = 5 * time.Second

// Option tunes a backend.
type Option func(*settings)

type settings struct {
	pollEvery time.Duration
	now       func() time.Time
}

// PollFrequency sets how often a Front Door write is polled when the service gives no
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

// NewBackend returns the backend for one WAF policy. It does no network I/O: the
// clients connect on first use. opts may be nil; 429 is taken out of its retries
// (see armfault.ClientOptions).
func NewBackend(id ResourceID, cred azcore.TokenCredential, opts *arm.ClientOptions, options ...Option) (enforce.Backend, error) {
	if err := id.validate(); err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, fault.Rejected(http.StatusBadRequest, fmt.Errorf("WAF policy %s: no credential", id.Name))
	}
	set := settings{pollEvery: DefaultPollFrequency, now: time.Now}
	for _, o := range options {
		o(&set)
	}
	copts := armfault.ClientOptions(opts)
	switch id.Kind {
	case KindFrontDoor:
		c, err := armfrontdoor.NewPoliciesClient(id.Subscription, cred, copts)
		if err != nil {
			return nil, fmt.Errorf("front door policies client for %s: %w", id, err)
		}
		return &frontDoor{id: id, client: c, set: set}, nil
	default:
		c, err := armnetwork.NewWebApplicationFirewallPoliciesClient(id.Subscription, cred, copts)
		if err != nil {
			return nil, fmt.Errorf("application gateway WAF policies client for %s: %w", id, err)
		}
		return &appGW{id: id, client: c, set: set}, nil
	}
}

// conditional adds If-Match to every request made with the returned context. An empty
// etag is refused: ARM's only meaning for it would be "create", and apiguard never
// creates WAF policies (nor writes one blind).
func conditional(ctx context.Context, id ResourceID, etag string) (context.Context, error) {
	if etag == "" {
		return nil, fault.Rejected(http.StatusPreconditionRequired,
			fmt.Errorf("write WAF policy %s: no ETag to send as If-Match; apiguard never creates WAF policies", id.Name))
	}
	return policy.WithHTTPHeader(ctx, http.Header{"If-Match": {etag}}), nil
}

// etagOf prefers the model's etag and falls back to the response's ETag header.
func etagOf(model *string, raw *http.Response) string {
	if model != nil && *model != "" {
		return *model
	}
	if raw != nil {
		return raw.Header.Get("ETag")
	}
	return ""
}

func decode[T any](id ResourceID, doc []byte) (T, error) {
	var m T
	if err := json.Unmarshal(doc, &m); err != nil {
		return m, fault.Rejected(http.StatusBadRequest, fmt.Errorf("write WAF policy %s: document is not a %s WAF policy: %w", id.Name, id.Kind, err))
	}
	return m, nil
}

func encode(id ResourceID, model any, etag string) (enforce.Policy, error) {
	doc, err := json.Marshal(model)
	if err != nil {
		return enforce.Policy{}, fmt.Errorf("read WAF policy %s: encode: %w", id.Name, err)
	}
	return enforce.Policy{Doc: doc, ETag: etag}, nil
}

// appGW is an Application Gateway WAF policy: CreateOrUpdate is synchronous.
type appGW struct {
	id     ResourceID
	client *armnetwork.WebApplicationFirewallPoliciesClient
	set    settings
}

var _ enforce.Backend = (*appGW)(nil)

// Get returns the policy as wire JSON (the SDK model's own marshalling) and its ETag.
func (b *appGW) Get(ctx context.Context) (enforce.Policy, error) {
	var raw *http.Response
	resp, err := b.client.Get(policy.WithCaptureResponse(ctx, &raw), b.id.ResourceGroup, b.id.Name, nil)
	if err != nil {
		return enforce.Policy{}, classify("read", b.id, err, b.set.now())
	}
	return encode(b.id, resp.WebApplicationFirewallPolicy, etagOf(resp.Etag, raw))
}

// Put writes doc whole with If-Match: etag and returns the new ETag.
func (b *appGW) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	m, err := decode[armnetwork.WebApplicationFirewallPolicy](b.id, doc)
	if err != nil {
		return "", err
	}
	wctx, err := conditional(ctx, b.id, etag)
	if err != nil {
		return "", err
	}
	var raw *http.Response
	resp, err := b.client.CreateOrUpdate(policy.WithCaptureResponse(wctx, &raw), b.id.ResourceGroup, b.id.Name, m, nil)
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	return etagOf(resp.Etag, raw), nil
}

// frontDoor is a Front Door WAF policy: create/update is a long-running operation.
type frontDoor struct {
	id     ResourceID
	client *armfrontdoor.PoliciesClient
	set    settings
}

var _ enforce.Backend = (*frontDoor)(nil)

// Get returns the policy as wire JSON (the SDK model's own marshalling) and its ETag.
func (b *frontDoor) Get(ctx context.Context) (enforce.Policy, error) {
	var raw *http.Response
	resp, err := b.client.Get(policy.WithCaptureResponse(ctx, &raw), b.id.ResourceGroup, b.id.Name, nil)
	if err != nil {
		return enforce.Policy{}, classify("read", b.id, err, b.set.now())
	}
	return encode(b.id, resp.WebApplicationFirewallPolicy, etagOf(resp.Etag, raw))
}

// Put starts the write with If-Match: etag, polls it to the end and returns the new
// ETag. Only the initial PUT carries If-Match: the polls are GETs of the operation,
// where a condition would be meaningless (or fail).
func (b *frontDoor) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	m, err := decode[armfrontdoor.WebApplicationFirewallPolicy](b.id, doc)
	if err != nil {
		return "", err
	}
	wctx, err := conditional(ctx, b.id, etag)
	if err != nil {
		return "", err
	}
	poller, err := b.client.BeginCreateOrUpdate(wctx, b.id.ResourceGroup, b.id.Name, m, nil)
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	var raw *http.Response
	resp, err := poller.PollUntilDone(policy.WithCaptureResponse(ctx, &raw), &runtime.PollUntilDoneOptions{Frequency: b.set.pollEvery})
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	return etagOf(resp.Etag, raw), nil
}
