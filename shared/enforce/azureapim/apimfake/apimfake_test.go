package apimfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/azureapim/apimfake"
)

// The SDK clients are used raw here (no apiguard backend in between), so the fake's
// own behaviour is what is checked.

var svcID = azureapim.Service{Subscription: "sub1", ResourceGroup: "rg-api", Name: "apim-prod"}

const (
	rg   = "rg-api"
	name = "apim-prod"
	pid  = armapimanagement.PolicyIDNamePolicy
	// expr is not well-formed XML: the xml format refuses it, rawxml keeps it.
	expr = "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<set-variable name=\"x\" value=\"@(context.Request.IpAddress != null && new[] {1}.Any(i => i > 0))\" />\n\t</inbound>\n</policies>"
)

var rawxml = to.Ptr(armapimanagement.PolicyExportFormatRawxml)

func raw(doc string) armapimanagement.PolicyContract {
	return armapimanagement.PolicyContract{Properties: &armapimanagement.PolicyContractProperties{
		Format: to.Ptr(armapimanagement.PolicyContentFormatRawxml), Value: to.Ptr(doc)}}
}

func apiClient(t *testing.T, svc *apimfake.Service, opts *arm.ClientOptions) *armapimanagement.APIPolicyClient {
	t.Helper()
	if opts == nil {
		opts = svc.ClientOptions()
	}
	c, err := armapimanagement.NewAPIPolicyClient(svcID.Subscription, svc.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fragmentClient(t *testing.T, svc *apimfake.Service, opts *arm.ClientOptions) *armapimanagement.PolicyFragmentClient {
	t.Helper()
	if opts == nil {
		opts = svc.ClientOptions()
	}
	c, err := armapimanagement.NewPolicyFragmentClient(svcID.Subscription, svc.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// armErrorBody checks err is an *azcore.ResponseError with status and code and an
// ARM error body {"error":{"code","message"}}.
func armErrorBody(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want *azcore.ResponseError, got %v", err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s", re.StatusCode, re.ErrorCode, status, code)
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err != nil || wire.Error.Code != code || wire.Error.Message == "" {
		t.Fatalf("not an ARM error body: %s", body)
	}
}

func TestConditionalWrites(t *testing.T) {
	svc := apimfake.New(svcID)
	sc := azureapim.Scope{API: "echo-api"}
	svc.AddScope(sc)
	c := apiClient(t, svc, nil)
	ctx := context.Background()
	put := func(hdr http.Header, ifMatch *string) (string, error) {
		r, err := c.CreateOrUpdate(policy.WithHTTPHeader(ctx, hdr), rg, name, "echo-api", pid, raw(expr),
			&armapimanagement.APIPolicyClientCreateOrUpdateOptions{IfMatch: ifMatch})
		if err != nil {
			return "", err
		}
		return *r.ETag, nil
	}

	_, err := put(nil, to.Ptr(`"AAAAAAAAAAE="`)) // If-Match on an absent policy
	armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	etag1, err := put(http.Header{"If-None-Match": {"*"}}, nil) // create
	if err != nil || etag1 == "" {
		t.Fatalf("create: %q %v", etag1, err)
	}
	_, err = put(http.Header{"If-None-Match": {"*"}}, nil) // create over present
	armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	etag2, err := put(nil, &etag1)
	if err != nil || etag2 == etag1 {
		t.Fatalf("current If-Match: %q %v", etag2, err)
	}
	_, err = put(nil, &etag1) // stale
	armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	etag3, err := put(nil, nil) // no condition: last writer wins
	if err != nil || etag3 == etag2 {
		t.Fatalf("no condition: %q %v", etag3, err)
	}
	etag4, err := put(nil, to.Ptr("*"))
	if err != nil || etag4 == etag3 {
		t.Fatalf("If-Match *: %q %v", etag4, err)
	}
	if doc, etag, ok := svc.Policy(sc); !ok || string(doc) != expr || etag != etag4 {
		t.Fatalf("stored %v %q %s", ok, etag, doc)
	}
	if n := svc.Counts(); n.Writes != 4 || n.Conflicts != 3 || n.Puts != 7 {
		t.Fatalf("counts %+v", n)
	}
}

func TestCreateAnswers201ThenUpdate200(t *testing.T) {
	svc := apimfake.New(svcID)
	svc.AddScope(azureapim.Scope{API: "echo-api"})
	c := apiClient(t, svc, nil)
	var resp *http.Response
	ctx := policy.WithCaptureResponse(context.Background(), &resp)
	for _, want := range []int{http.StatusCreated, http.StatusOK} {
		if _, err := c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, raw(expr), nil); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want || resp.Header.Get("ETag") == "" {
			t.Fatalf("status %d, ETag %q; want %d", resp.StatusCode, resp.Header.Get("ETag"), want)
		}
	}
}

func TestFormats(t *testing.T) {
	svc := apimfake.New(svcID)
	sc := azureapim.Scope{API: "echo-api"}
	svc.SetPolicy(sc, []byte(expr))
	c := apiClient(t, svc, nil)
	ctx := context.Background()

	r, err := c.Get(ctx, rg, name, "echo-api", pid, &armapimanagement.APIPolicyClientGetOptions{Format: rawxml})
	if err != nil || *r.Properties.Value != expr || *r.Properties.Format != armapimanagement.PolicyContentFormatRawxml || r.ETag == nil {
		t.Fatalf("rawxml read: %+v %v", r, err)
	}
	r, err = c.Get(ctx, rg, name, "echo-api", pid, nil) // the default format is xml: escaped
	if err != nil || !strings.Contains(*r.Properties.Value, "&amp;&amp;") || !strings.Contains(*r.Properties.Value, "=&gt;") ||
		*r.Properties.Format != armapimanagement.PolicyContentFormatXML {
		t.Fatalf("xml read: %+v %v", *r.Properties.Value, err)
	}

	xmlDoc := func(v string) armapimanagement.PolicyContract {
		return armapimanagement.PolicyContract{Properties: &armapimanagement.PolicyContractProperties{Value: to.Ptr(v)}}
	}
	_, err = c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, xmlDoc(expr), nil)
	armErrorBody(t, err, http.StatusBadRequest, "ValidationError")
	if _, err := c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, xmlDoc("<policies><inbound><base /></inbound></policies>"), nil); err != nil {
		t.Fatalf("well-formed xml: %v", err)
	}
	for _, bad := range []string{"<policy />", "<fragment />", "text", "<policiesx />", "<!-- only a comment -->", strings.Repeat(" ", 256<<10) + "<policies />"} {
		_, err = c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, raw(bad), nil)
		armErrorBody(t, err, http.StatusBadRequest, "ValidationError")
	}
	for _, good := range []string{"<?xml version=\"1.0\"?>\n<!-- c -->\n<policies/>", apimfake.DefaultGlobalPolicy} {
		if _, err := c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, raw(good), nil); err != nil {
			t.Fatalf("%q: %v", good, err)
		}
	}
}

func TestNotFound(t *testing.T) {
	svc := apimfake.New(svcID)
	svc.SetPolicy(azureapim.Scope{API: "echo-api"}, []byte(expr))
	svc.AddScope(azureapim.Scope{API: "echo-api", Operation: "op1"}, azureapim.Scope{Product: "starter"})
	ctx := context.Background()
	c := apiClient(t, svc, nil)

	// Ids are case-insensitive, as in APIM.
	if _, err := c.Get(ctx, "RG-API", "APIM-PROD", "ECHO-API", pid, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(ctx, rg, name, "other-api", pid, nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
	_, err = c.CreateOrUpdate(ctx, rg, name, "other-api", pid, raw(expr), nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
	_, err = c.Get(ctx, "rg-other", name, "echo-api", pid, nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceGroupNotFound")
	_, err = c.Get(ctx, rg, "apim-other", "echo-api", pid, nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")

	other, err := armapimanagement.NewAPIPolicyClient("sub2", svc.Credential(), svc.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Get(ctx, rg, name, "echo-api", pid, nil)
	armErrorBody(t, err, http.StatusNotFound, "SubscriptionNotFound")

	// Declared entities without a policy: 404 on read, created on write.
	op, _ := armapimanagement.NewAPIOperationPolicyClient(svcID.Subscription, svc.Credential(), svc.ClientOptions())
	_, err = op.Get(ctx, rg, name, "echo-api", "op1", pid, nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
	_, err = op.CreateOrUpdate(ctx, rg, name, "echo-api", "op2", pid, raw(expr), nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
	if _, err := op.CreateOrUpdate(ctx, rg, name, "echo-api", "op1", pid, raw(expr), nil); err != nil {
		t.Fatal(err)
	}
	pp, _ := armapimanagement.NewProductPolicyClient(svcID.Subscription, svc.Credential(), svc.ClientOptions())
	if _, err := pp.CreateOrUpdate(ctx, rg, name, "starter", pid, raw(expr), nil); err != nil {
		t.Fatal(err)
	}
	_, err = pp.CreateOrUpdate(ctx, rg, name, "gold", pid, raw(expr), nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")

	g, _ := armapimanagement.NewPolicyClient(svcID.Subscription, svc.Credential(), svc.ClientOptions())
	r, err := g.Get(ctx, rg, name, pid, &armapimanagement.PolicyClientGetOptions{Format: rawxml})
	if err != nil || *r.Properties.Value != apimfake.DefaultGlobalPolicy {
		t.Fatalf("global: %v", err)
	}
	if svc.Writes() != 2 {
		t.Fatalf("writes %d", svc.Writes())
	}
}

// recorder notes every response the client sees.
type recorder struct {
	mu   sync.Mutex
	seen []*http.Response
}

func (r *recorder) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if resp != nil {
		r.mu.Lock()
		r.seen = append(r.seen, resp)
		r.mu.Unlock()
	}
	return resp, err
}

func TestFragmentLongRunningWrite(t *testing.T) {
	svc := apimfake.New(svcID)
	rec := &recorder{}
	opts := svc.ClientOptions()
	opts.PerRetryPolicies = []policy.Policy{rec}
	c := fragmentClient(t, svc, opts)
	ctx := context.Background()
	f := armapimanagement.PolicyFragmentContract{Properties: &armapimanagement.PolicyFragmentContractProperties{
		Format: to.Ptr(armapimanagement.PolicyFragmentContentFormatRawxml), Value: to.Ptr("<fragment>\n\t<base-less />\n</fragment>"),
		Description: to.Ptr("owned")}}

	_, err := c.Get(ctx, rg, name, "frag1", nil)
	armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")

	poller, err := c.BeginCreateOrUpdate(policy.WithHTTPHeader(ctx, http.Header{"If-None-Match": {"*"}}), rg, name, "frag1", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if *res.Properties.Value != *f.Properties.Value || *res.Name != "frag1" {
		t.Fatalf("result %+v", res.Properties)
	}
	_, etag, ok := svc.Fragment("frag1")
	var statuses []int
	for _, r := range rec.seen[1:] {
		statuses = append(statuses, r.StatusCode)
	}
	if !ok || len(statuses) != 3 || statuses[0] != 201 || statuses[1] != 202 || statuses[2] != 200 {
		t.Fatalf("want PUT 201, poll 202, poll 200; got %v", statuses)
	}
	if rec.seen[1].Header.Get("ETag") != etag || rec.seen[3].Header.Get("ETag") != etag {
		t.Fatalf("the PUT's and the final poll's ETag must be the stored one %q", etag)
	}
	if svc.Description("frag1") != "owned" || svc.Counts().Polls != 2 {
		t.Fatalf("description %q, counts %+v", svc.Description("frag1"), svc.Counts())
	}

	r, err := c.Get(ctx, rg, name, "FRAG1", &armapimanagement.PolicyFragmentClientGetOptions{Format: to.Ptr(armapimanagement.PolicyFragmentContentFormatRawxml)})
	if err != nil || *r.ETag != etag || *r.Properties.Description != "owned" {
		t.Fatalf("read: %+v %v", r, err)
	}

	// Stale If-Match is refused when the PUT is accepted, before any operation starts.
	_, err = c.BeginCreateOrUpdate(ctx, rg, name, "frag1", f, &armapimanagement.PolicyFragmentClientBeginCreateOrUpdateOptions{IfMatch: to.Ptr(`"stale"`)})
	armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	bad := f
	bad.Properties = &armapimanagement.PolicyFragmentContractProperties{Format: f.Properties.Format, Value: to.Ptr("<policies />")}
	_, err = c.BeginCreateOrUpdate(ctx, rg, name, "frag1", bad, nil)
	armErrorBody(t, err, http.StatusBadRequest, "ValidationError")
}

func TestFaults(t *testing.T) {
	svc := apimfake.New(svcID)
	svc.SetPolicy(azureapim.Scope{API: "echo-api"}, []byte(expr))
	opts := svc.ClientOptions()
	opts.Retry.MaxRetries = -1 // see each answer, no azcore retries
	c := apiClient(t, svc, opts)
	ctx := context.Background()

	svc.ThrottleNext(1, 1500*time.Millisecond)
	if _, err := c.Get(ctx, rg, name, "echo-api", pid, nil); err != nil {
		t.Fatalf("reads are not throttled: %v", err)
	}
	_, err := c.CreateOrUpdate(ctx, rg, name, "echo-api", pid, raw(expr), nil)
	armErrorBody(t, err, http.StatusTooManyRequests, "SubscriptionRequestsThrottled")
	var re *azcore.ResponseError
	errors.As(err, &re)
	if h := re.RawResponse.Header; h.Get("Retry-After") != "2" || h.Get("Retry-After-Ms") != "1500" {
		t.Fatalf("throttle headers %v", h)
	}

	svc.FailNext(2, http.StatusServiceUnavailable, "ServiceUnavailable")
	for range 2 {
		_, err = c.Get(ctx, rg, name, "echo-api", pid, nil)
		armErrorBody(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	}
	svc.DropNext(1)
	_, err = c.Get(ctx, rg, name, "echo-api", pid, nil)
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("want a connection reset, got %v", err)
	}
	if _, err := c.Get(ctx, rg, name, "echo-api", pid, nil); err != nil {
		t.Fatal(err)
	}
	if n := svc.Counts(); n.Throttled != 1 || n.Failed != 3 || n.Writes != 0 {
		t.Fatalf("counts %+v", n)
	}
}

func TestSeedsMutateAndReserialize(t *testing.T) {
	svc := apimfake.New(svcID)
	sc := azureapim.Scope{Product: "starter"}
	svc.SetPolicy(sc, []byte("<policies>\n</policies>"))
	_, etag0, _ := svc.Policy(sc)

	svc.Mutate(sc, func(doc []byte) []byte { return doc }) // same: no change
	svc.Mutate(sc, func([]byte) []byte { return nil })     // nil: no change
	if _, etag, _ := svc.Policy(sc); etag != etag0 {
		t.Fatal("a no-op Mutate changed the ETag")
	}
	svc.Mutate(sc, func(doc []byte) []byte { return append(doc, '\n') })
	if _, etag, _ := svc.Policy(sc); etag == etag0 {
		t.Fatal("Mutate kept the ETag")
	}
	fresh := azureapim.Scope{API: "new-api"}
	svc.Mutate(fresh, func(doc []byte) []byte {
		if doc != nil {
			t.Errorf("absent policy handed over as %q", doc)
		}
		return []byte("<policies />")
	})
	if _, _, ok := svc.Policy(fresh); !ok {
		t.Fatal("Mutate of an absent policy must create it")
	}
	svc.SetPolicy(sc, nil)
	if _, _, ok := svc.Policy(sc); ok {
		t.Fatal("SetPolicy nil must remove the policy")
	}

	// Seeds keep their bytes; PUTs are reformatted.
	svc.Reserialize(true)
	svc.SetPolicy(sc, []byte("<policies>\n</policies>"))
	if doc, _, _ := svc.Policy(sc); string(doc) != "<policies>\n</policies>" {
		t.Fatalf("seed reformatted: %q", doc)
	}
	pp, _ := armapimanagement.NewProductPolicyClient(svcID.Subscription, svc.Credential(), svc.ClientOptions())
	if _, err := pp.CreateOrUpdate(context.Background(), rg, name, "starter", pid, raw("<policies>\n\t<inbound />\r\n</policies>"), nil); err != nil {
		t.Fatal(err)
	}
	if doc, _, _ := svc.Policy(sc); string(doc) != "<policies>\r\n\t<inbound />\r\n</policies>" {
		t.Fatalf("want CRLF throughout: %q", doc)
	}
	if svc.Writes() != 1 {
		t.Fatalf("only PUTs count as writes: %d", svc.Writes())
	}
}

func TestNewPanicsOnBadService(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	apimfake.New(azureapim.Service{Subscription: "s", ResourceGroup: "rg", Name: "bad_name"})
}
