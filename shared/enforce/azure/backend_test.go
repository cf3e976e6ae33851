package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azure"
	"github.com/apiguard/apiguard/shared/enforce/azure/armfake"
	"github.com/apiguard/apiguard/shared/fault"
)

const (
	appGWID     = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/wafEdge"
	frontDoorID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/wafGlobal"
)

// kindCase runs a test against one policy type.
type kindCase struct {
	kind     string
	id       string
	testdata string
	serve    func(t *testing.T) *armfake.Service
}

var kinds = []kindCase{
	{kind: azure.KindAppGW, id: appGWID, testdata: "testdata/appgw-customer.json", serve: func(t *testing.T) *armfake.Service {
		var p armnetwork.WebApplicationFirewallPolicy
		readJSON(t, "testdata/appgw-customer.json", &p)
		return armfake.NewAppGW(appGWID, p)
	}},
	{kind: azure.KindFrontDoor, id: frontDoorID, testdata: "testdata/frontdoor-customer.json", serve: func(t *testing.T) *armfake.Service {
		var p armfrontdoor.WebApplicationFirewallPolicy
		readJSON(t, "testdata/frontdoor-customer.json", &p)
		return armfake.NewFrontDoor(frontDoorID, p)
	}},
}

func eachKind(t *testing.T, f func(t *testing.T, k kindCase)) {
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			f(t, k)
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// backendFor points a backend at svc; id may name another policy than svc's.
func backendFor(t *testing.T, svc *armfake.Service, id string) enforce.Backend {
	t.Helper()
	rid, err := azure.ParseResourceID(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := azure.NewBackend(rid, svc.Credential(), svc.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeDoc(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	return m
}

// rules returns the custom rule list of a decoded policy and a setter for it.
func rules(t *testing.T, kind string, doc map[string]any) ([]any, func([]any)) {
	t.Helper()
	props, _ := doc["properties"].(map[string]any)
	if props == nil {
		t.Fatal("policy has no properties")
	}
	if kind == azure.KindFrontDoor {
		cr, _ := props["customRules"].(map[string]any)
		if cr == nil {
			cr = map[string]any{}
			props["customRules"] = cr
		}
		list, _ := cr["rules"].([]any)
		return list, func(l []any) { cr["rules"] = l }
	}
	list, _ := props["customRules"].([]any)
	return list, func(l []any) { props["customRules"] = l }
}

// blockRule is an IP block rule in the kind's wire shape.
func blockRule(kind, name string, priority int, ips ...string) map[string]any {
	if kind == azure.KindFrontDoor {
		return map[string]any{
			"name": name, "priority": priority, "enabledState": "Enabled", "ruleType": "MatchRule", "action": "Block",
			"matchConditions": []any{map[string]any{"matchVariable": "SocketAddr", "operator": "IPMatch", "negateCondition": false, "matchValue": ips}},
		}
	}
	return map[string]any{
		"name": name, "priority": priority, "state": "Enabled", "ruleType": "MatchRule", "action": "Block",
		"matchConditions": []any{map[string]any{
			"matchVariables": []any{map[string]any{"variableName": "RemoteAddr"}}, "operator": "IPMatch",
			"negationConditon": false, "matchValues": ips,
		}},
	}
}

func withRule(t *testing.T, kind string, doc []byte, rule map[string]any) []byte {
	t.Helper()
	m := decodeDoc(t, doc)
	list, set := rules(t, kind, m)
	set(append(list, rule))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ruleNames(t *testing.T, kind string, doc []byte) []string {
	t.Helper()
	list, _ := rules(t, kind, decodeDoc(t, doc))
	var names []string
	for _, r := range list {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	return names
}

// sameJSON compares two documents, ignoring the listed top-level or properties keys.
func sameJSON(t *testing.T, got, want []byte, ignore ...string) {
	t.Helper()
	g, w := decodeDoc(t, got), decodeDoc(t, want)
	for _, m := range []map[string]any{g, w} {
		for _, k := range ignore {
			delete(m, k)
			if p, ok := m["properties"].(map[string]any); ok {
				delete(p, k)
			}
		}
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", "  ")
		wb, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("documents differ\n got: %s\nwant: %s", gb, wb)
	}
}

// explicit returns the disposition err was given, failing when it has none (fault.Of
// would call that Retry, hiding a missing mapping).
func explicit(t *testing.T, err error) *fault.Error {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error has no fault disposition: %v", err)
	}
	return fe
}

// What the contract suite (TestBackendContract) cannot know: Get's document carries
// the policy's ETag in its etag field, as ARM returns it; a Put is one PUT; a rule
// appended in the wire shape comes back in place.
func TestGetPutRoundTrip(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc := k.serve(t)
		b := backendFor(t, svc, k.id)
		ctx := context.Background()

		cur, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeDoc(t, cur.Doc)["etag"]; got != cur.ETag || !strings.HasPrefix(cur.ETag, `W/"`) {
			t.Fatalf("document etag %v, ETag %q", got, cur.ETag)
		}
		doc := withRule(t, k.kind, cur.Doc, blockRule(k.kind, "apiguard1", 50, "203.0.113.7", "198.51.100.77/32"))
		if _, err := b.Put(ctx, doc, cur.ETag); err != nil {
			t.Fatal(err)
		}
		if svc.Writes() != 1 || svc.Puts() != 1 {
			t.Fatalf("writes %d puts %d, want 1 and 1", svc.Writes(), svc.Puts())
		}
		after, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if names := ruleNames(t, k.kind, after.Doc); !slices.Equal(names, []string{"AllowOffice", "RateLimitLogin", "apiguard1"}) {
			t.Fatalf("rules after write: %v", names)
		}
	})
}

// Fields apiguard does not model (managed rules, policy settings, SKU, tags, the
// customer's own rules) survive a read-modify-write unchanged.
func TestCustomerFieldsSurvive(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc := k.serve(t)
		b := backendFor(t, svc, k.id)
		ctx := context.Background()
		original, err := os.ReadFile(k.testdata)
		if err != nil {
			t.Fatal(err)
		}

		cur, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		doc := withRule(t, k.kind, cur.Doc, blockRule(k.kind, "apiguard1", 50, "203.0.113.7"))
		if _, err := b.Put(ctx, doc, cur.ETag); err != nil {
			t.Fatal(err)
		}
		after, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// Take our rule out again: what is left must be the customer's file exactly,
		// apart from what the service owns.
		m := decodeDoc(t, after.Doc)
		list, set := rules(t, k.kind, m)
		set(list[:len(list)-1])
		left, _ := json.Marshal(m)
		sameJSON(t, left, original, "etag", "id", "name", "type", "provisioningState")
	})
}

func TestStaleETagIsPrecondition(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc := k.serve(t)
		b := backendFor(t, svc, k.id)
		ctx := context.Background()

		cur, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		svc.Mutate(func(doc []byte) []byte { // drift: someone edits in the portal
			return withRule(t, k.kind, doc, blockRule(k.kind, "PortalBlock", 5, "192.0.2.1"))
		})
		_, err = b.Put(ctx, withRule(t, k.kind, cur.Doc, blockRule(k.kind, "apiguard1", 50, "203.0.113.7")), cur.ETag)
		if !errors.Is(err, enforce.ErrPrecondition) {
			t.Fatalf("want ErrPrecondition, got %v", err)
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != "PreconditionFailed" {
			t.Fatalf("want the service's PreconditionFailed in the chain, got %v", err)
		}
		if svc.Conflicts() != 1 || svc.Writes() != 0 || svc.Puts() != 1 {
			t.Fatalf("conflicts %d writes %d puts %d", svc.Conflicts(), svc.Writes(), svc.Puts())
		}
	})
}

// A 429 is left to the caller (the contract suite's throttled write, and the "429" row
// of TestServiceFaultDispositions). The control: the fake's 429 is retryable, so when
// the caller asks for 429 retries, azcore does retry, and the backend keeps the
// caller's codes.
func TestCallerRetryCodesKept(t *testing.T) {
	svc := kinds[0].serve(t)
	opts := svc.ClientOptions()
	opts.Retry.StatusCodes = []int{http.StatusTooManyRequests}
	rid, _ := azure.ParseResourceID(appGWID)
	b, err := azure.NewBackend(rid, svc.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := b.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	svc.ThrottleNext(1, 2*time.Millisecond)
	if _, err := b.Put(context.Background(), cur.Doc, cur.ETag); err != nil {
		t.Fatal(err)
	}
	if svc.Puts() != 2 || svc.Writes() != 1 {
		t.Fatalf("want azcore to retry the 429 once: %d PUTs, %d writes", svc.Puts(), svc.Writes())
	}
	if !slices.Equal(opts.Retry.StatusCodes, []int{http.StatusTooManyRequests}) {
		t.Fatalf("caller's options changed: %v", opts.Retry.StatusCodes)
	}
}

func TestFrontDoorLongRunningWrite(t *testing.T) {
	k := kinds[1]
	svc := k.serve(t)
	b := backendFor(t, svc, k.id) // default poll frequency: the service's Retry-After paces it
	ctx := context.Background()
	cur, err := b.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	etag, err := b.Put(ctx, withRule(t, k.kind, cur.Doc, blockRule(k.kind, "apiguard1", 50, "203.0.113.7")), cur.ETag)
	if err != nil {
		t.Fatal(err)
	}
	p := svc.Snapshot()
	if etag != p.ETag || etag == cur.ETag {
		t.Fatalf("Put returned %q; service holds %q; before %q", etag, p.ETag, cur.ETag)
	}
	if p.Polls != 2 || p.Puts != 1 || p.Gets != 1 {
		t.Fatalf("want 1 PUT answered 202, then 2 polls (one in progress, one done): %+v", p)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("write took %s: Retry-After on in-progress responses was not honoured", d)
	}
}

func TestNotFoundIsRejected(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc := k.serve(t)
		other := strings.TrimSuffix(k.id, "/"+k.id[strings.LastIndex(k.id, "/")+1:]) + "/noSuchPolicy"
		b := backendFor(t, svc, other)
		ctx := context.Background()

		_, err := b.Get(ctx)
		fe := explicit(t, err)
		if fe.Disposition != fault.Reject || fe.Status != http.StatusNotFound {
			t.Fatalf("Get of a missing policy: %s %d: %v", fe.Disposition, fe.Status, err)
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != "ResourceNotFound" || !strings.Contains(err.Error(), "ResourceNotFound") {
			t.Fatalf("want the service's code in the chain and the message: %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error should be one line: %q", err)
		}
		doc, etag := svc.Current()
		_, err = b.Put(ctx, doc, etag)
		if fe := explicit(t, err); fe.Disposition != fault.Reject || fe.Status != http.StatusNotFound {
			t.Fatalf("Put of a missing policy: %v", err)
		}
		if svc.Writes() != 0 {
			t.Fatal("a missing policy must never be created")
		}
	})
}

func TestServiceFaultDispositions(t *testing.T) {
	cases := []struct {
		name     string
		program  func(*armfake.Service)
		put      bool
		want     fault.Disposition
		status   int    // for rejections
		code     string // expected in the message
		requests int    // requests the service saw: azcore retries 408/5xx/network (3 retries), nothing else, not even 429
	}{
		{name: "503 on read", program: func(s *armfake.Service) { s.FailNext(10, 503, "ServiceUnavailable") }, want: fault.Retry, code: "ServiceUnavailable", requests: 4},
		{name: "500 on write", put: true, program: func(s *armfake.Service) { s.FailNext(10, 500, "InternalServerError") }, want: fault.Retry, code: "InternalServerError", requests: 4},
		{name: "408 on read", program: func(s *armfake.Service) { s.FailNext(10, 408, "RequestTimeout") }, want: fault.Retry, code: "RequestTimeout", requests: 4},
		{name: "connection reset", program: func(s *armfake.Service) { s.DropNext(10) }, want: fault.Retry, requests: 4},
		{name: "409 busy", put: true, program: func(s *armfake.Service) { s.FailNext(1, 409, "AnotherOperationInProgress") }, want: fault.Retry, code: "AnotherOperationInProgress", requests: 1},
		{name: "429 left to the caller", put: true, program: func(s *armfake.Service) { s.FailNext(1, 429, "SubscriptionRequestsThrottled") }, want: fault.Retry, code: "SubscriptionRequestsThrottled", requests: 1},
		{name: "403 no role", program: func(s *armfake.Service) { s.FailNext(1, 403, "AuthorizationFailed") }, want: fault.Reject, status: 403, code: "AuthorizationFailed", requests: 1},
		{name: "400 invalid", put: true, program: func(s *armfake.Service) { s.FailNext(1, 400, "InvalidResource") }, want: fault.Reject, status: 400, code: "InvalidResource", requests: 1},
		{name: "409 conflict", put: true, program: func(s *armfake.Service) { s.FailNext(1, 409, "Conflict") }, want: fault.Reject, status: 409, code: "Conflict", requests: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eachKind(t, func(t *testing.T, k kindCase) {
				svc := k.serve(t)
				b := backendFor(t, svc, k.id)
				ctx := context.Background()
				doc, etag := svc.Current()
				c.program(svc)
				var err error
				if c.put {
					_, err = b.Put(ctx, doc, etag)
				} else {
					_, err = b.Get(ctx)
				}
				fe := explicit(t, err)
				if fe.Disposition != c.want || (c.status != 0 && fe.Status != c.status) {
					t.Fatalf("%s: got %s/%d: %v", c.name, fe.Disposition, fe.Status, err)
				}
				if c.code != "" && !strings.Contains(err.Error(), c.code) {
					t.Fatalf("%s: message lacks the service's code %s: %v", c.name, c.code, err)
				}
				if c.code == "" {
					var op *net.OpError
					if !errors.As(err, &op) {
						t.Fatalf("%s: want the network error in the chain: %v", c.name, err)
					}
				}
				if n := svc.Gets() + svc.Puts(); n != c.requests {
					t.Fatalf("%s: service saw %d requests, want %d", c.name, n, c.requests)
				}
			})
		})
	}
}

// A 5xx that clears is retried inside the SDK and never reaches the reconciler.
func TestTransientClearedByAzcoreRetry(t *testing.T) {
	svc := kinds[0].serve(t)
	b := backendFor(t, svc, appGWID)
	svc.FailNext(1, http.StatusServiceUnavailable, "ServiceUnavailable")
	if _, err := b.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if svc.Gets() != 2 {
		t.Fatalf("gets %d, want 2", svc.Gets())
	}
}

func TestPutRefusesWithoutRequest(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc := k.serve(t)
		b := backendFor(t, svc, k.id)
		doc, etag := svc.Current()

		_, err := b.Put(context.Background(), doc, "")
		if fe := explicit(t, err); fe.Disposition != fault.Reject {
			t.Fatalf("empty ETag: %v", err)
		}
		other := kinds[0]
		if other.kind == k.kind {
			other = kinds[1]
		}
		otherDoc, err := os.ReadFile(other.testdata)
		if err != nil {
			t.Fatal(err)
		}
		template := []byte(`{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[{"type":"` +
			map[string]string{azure.KindAppGW: "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", azure.KindFrontDoor: "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies"}[k.kind] +
			`","apiVersion":"2024-05-01","name":"p","location":"global","properties":` + string(rawProps(t, doc)) + `}]}`)
		for _, c := range []struct {
			name string
			doc  []byte
			want string // in the message: what was found
		}{
			{"broken JSON", []byte(`{"properties":[`), "not JSON"},
			{"package.json", []byte(`{"name":"shop","version":"1.0.0","dependencies":{"left-pad":"1.3.0"}}`), "not a WAF policy"},
			{"policy of the other kind", otherDoc, "given as kind " + k.kind},
			{"template of the kind", template, "ARM template"},
		} {
			_, err = b.Put(context.Background(), c.doc, etag)
			if fe := explicit(t, err); fe.Disposition != fault.Reject || fe.Status != http.StatusBadRequest || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: %v, want a 400 naming %q", c.name, err, c.want)
			}
		}
		if svc.Puts() != 0 {
			t.Fatalf("nothing should have been sent: %d PUTs", svc.Puts())
		}
	})
}

// headerOnly is a service whose body carries no etag: the ETag header is used.
type headerOnly struct{}

func (headerOnly) Do(req *http.Request) (*http.Response, error) {
	body := `{"name":"wafEdge","properties":{"customRules":[]}}`
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}, "Etag": {`W/"from-header"`}},
		Body:    io.NopCloser(strings.NewReader(body)),
		Request: req,
	}, nil
}

func TestETagHeaderFallback(t *testing.T) {
	svc := kinds[0].serve(t) // for the credential only
	opts := svc.ClientOptions()
	opts.Transport = headerOnly{}
	rid, _ := azure.ParseResourceID(appGWID)
	b, err := azure.NewBackend(rid, svc.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.ETag != `W/"from-header"` {
		t.Fatalf("ETag %q", p.ETag)
	}
}

func TestNewBackendValidates(t *testing.T) {
	svc := kinds[0].serve(t)
	if _, err := azure.NewBackend(azure.ResourceID{}, svc.Credential(), nil); err == nil || fault.Of(err) != fault.Reject {
		t.Fatalf("zero id: %v", err)
	}
	rid, _ := azure.ParseResourceID(appGWID)
	if _, err := azure.NewBackend(rid, nil, nil); err == nil {
		t.Fatal("nil credential accepted")
	}
	if _, err := azure.NewBackend(rid, svc.Credential(), nil); err != nil {
		t.Fatalf("nil options: %v", err)
	}
}

// rawProps is the properties member of a policy, verbatim.
func rawProps(t *testing.T, doc []byte) []byte {
	t.Helper()
	var m struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	return m.Properties
}
