// Package azure implements enforce.Backend over Azure Resource Manager: Application
// Gateway and Front Door WAF policies, read and written whole as the service's own
// JSON bytes through the SDK's ARM pipeline (credential, retries, 429 handling), with
// If-Match on every write and errors mapped to the enforce contract. The document
// never goes through the SDK's typed models, which would drop every field their API
// version does not know.
//
// Package armfake holds the SDK's official fake servers programmed like the real
// services, for tests here and elsewhere.
package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/armfault"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/waf"
)

// API versions, those of the SDK clients apiguard was built with (armnetwork/v7
// v7.2.0, armfrontdoor v1.4.0). The document is the service's own JSON whatever the
// version knows, so a newer field of the customer's survives either way; the version
// only decides what the service accepts and answers.
const (
	appGWAPIVersion     = "2025-01-01"
	frontDoorAPIVersion = "2024-02-01"
)

// clientName and clientVersion name apiguard in the pipeline's User-Agent telemetry.
const (
	clientName    = "apiguard-waf"
	clientVersion = "v1.0.0"
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
// pipeline connects on first use. opts may be nil; 429 is taken out of its retries
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
	c, err := arm.NewClient(clientName, clientVersion, cred, armfault.ClientOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("ARM client for %s: %w", id, err)
	}
	b := &backend{id: id, pl: c.Pipeline(), set: set, url: runtime.JoinPaths(c.Endpoint(), id.path())}
	switch id.Kind {
	case KindFrontDoor:
		b.kind, b.apiVersion, b.api, b.longRunning = waf.FrontDoor, frontDoorAPIVersion, "PoliciesClient", true
	default:
		b.kind, b.apiVersion, b.api = waf.AppGW, appGWAPIVersion, "WebApplicationFirewallPoliciesClient"
	}
	return b, nil
}

// path is the policy's resource path, each segment escaped as the SDK clients do.
func (id ResourceID) path() string {
	typ := "ApplicationGatewayWebApplicationFirewallPolicies"
	if id.Kind == KindFrontDoor {
		typ = "FrontDoorWebApplicationFirewallPolicies"
	}
	return "/subscriptions/" + url.PathEscape(id.Subscription) + "/resourceGroups/" + url.PathEscape(id.ResourceGroup) +
		"/providers/Microsoft.Network/" + typ + "/" + url.PathEscape(id.Name)
}

// backend is one WAF policy. Application Gateway's PUT is synchronous; Front Door's is
// a long-running operation, polled to its end.
type backend struct {
	id          ResourceID
	kind        waf.Kind
	pl          runtime.Pipeline
	url         string
	apiVersion  string
	api         string // the SDK client's name, for the operation names the pipeline sees
	longRunning bool
	set         settings
}

var _ enforce.Backend = (*backend)(nil)

// request builds a call of the policy on the pipeline, named as the SDK client names
// it (tracing; azcore's fake pollers need it too).
func (b *backend) request(ctx context.Context, method, op string) (*policy.Request, error) {
	ctx = context.WithValue(ctx, runtime.CtxAPINameKey{}, b.api+"."+op)
	req, err := runtime.NewRequest(ctx, method, b.url)
	if err != nil {
		return nil, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", b.apiVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	return req, nil
}

// Get returns the policy exactly as the service sent it, and its ETag.
func (b *backend) Get(ctx context.Context) (enforce.Policy, error) {
	req, err := b.request(ctx, http.MethodGet, "Get")
	if err != nil {
		return enforce.Policy{}, fmt.Errorf("read WAF policy %s: %w", b.id.Name, err)
	}
	resp, err := b.pl.Do(req)
	if err == nil && !runtime.HasStatusCode(resp, http.StatusOK) {
		err = runtime.NewResponseError(resp)
	}
	if err != nil {
		return enforce.Policy{}, classify("read", b.id, err, b.set.now())
	}
	doc, err := runtime.Payload(resp)
	if err != nil {
		return enforce.Policy{}, fault.Transient(fmt.Errorf("read WAF policy %s: %w", b.id.Name, err))
	}
	if !json.Valid(doc) {
		return enforce.Policy{}, fault.Transient(fmt.Errorf("read WAF policy %s: the service answered %d bytes that are not JSON", b.id.Name, len(doc)))
	}
	return enforce.Policy{Doc: doc, ETag: etagOf(doc, resp)}, nil
}

// Put writes doc, byte for byte, with If-Match: etag and returns the new ETag. A
// document that is not a policy of the backend's kind is refused before any request.
// For Front Door only the PUT carries If-Match, not the polls of the operation, where
// a condition would be meaningless (or fail).
func (b *backend) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if err := b.check(doc); err != nil {
		return "", err
	}
	if etag == "" {
		return "", fault.Rejected(http.StatusPreconditionRequired,
			fmt.Errorf("write WAF policy %s: no ETag to send as If-Match; apiguard never creates WAF policies", b.id.Name))
	}
	op := "CreateOrUpdate"
	if b.longRunning {
		op = "BeginCreateOrUpdate"
	}
	req, err := b.request(ctx, http.MethodPut, op)
	if err != nil {
		return "", fmt.Errorf("write WAF policy %s: %w", b.id.Name, err)
	}
	req.Raw().Header.Set("If-Match", etag)
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(doc)), "application/json"); err != nil {
		return "", fmt.Errorf("write WAF policy %s: %w", b.id.Name, err)
	}
	resp, err := b.pl.Do(req)
	ok := []int{http.StatusOK, http.StatusCreated}
	if b.longRunning {
		ok = append(ok, http.StatusAccepted)
	}
	if err == nil && !runtime.HasStatusCode(resp, ok...) {
		err = runtime.NewResponseError(resp)
	}
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	if !b.longRunning {
		body, err := runtime.Payload(resp)
		if err != nil {
			return "", fault.Transient(fmt.Errorf("write WAF policy %s: %w", b.id.Name, err))
		}
		return etagOf(body, resp), nil
	}
	poller, err := runtime.NewPoller[json.RawMessage](resp, b.pl, nil)
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	var last *http.Response
	final, err := poller.PollUntilDone(policy.WithCaptureResponse(ctx, &last), &runtime.PollUntilDoneOptions{Frequency: b.set.pollEvery})
	if err != nil {
		return "", classify("write", b.id, err, b.set.now())
	}
	return etagOf(final, last), nil
}

// check refuses what the resource provider must not be sent: anything but a policy
// of the kind (the waf document code names what it found), and an ARM template
// holding one, which is for a deployment, not a PUT of the policy.
func (b *backend) check(doc []byte) error {
	d, err := waf.ParseDocument(b.kind, doc)
	if err != nil {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("write WAF policy %s: %w", b.id.Name, err))
	}
	if d.Template() {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("write WAF policy %s: the document is an ARM template, not the policy itself", b.id.Name))
	}
	return nil
}

// etagOf prefers the body's etag and falls back to the response's ETag header.
func etagOf(body []byte, resp *http.Response) string {
	var m struct {
		ETag string `json:"etag"`
	}
	if json.Unmarshal(body, &m) == nil && m.ETag != "" {
		return m.ETag
	}
	if resp != nil {
		return resp.Header.Get("ETag")
	}
	return ""
}
