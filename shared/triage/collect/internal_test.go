package collect

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"

	"github.com/apiguard/apiguard/shared/triage"
)

const svc = "/subscriptions/6f1c2a3b-0d4e-4f5a-9b6c-7d8e9f0a1b2c/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s"

// The detectors key the request path with id-like segments as {id}; operations are
// found by method and URL template under the API's path (and version segment).
func TestMatchOperation(t *testing.T) {
	api := &triage.API{Name: "catalog", Path: "shop/catalog", Operations: []triage.Operation{
		{Name: "list", Method: "GET", URLTemplate: "/products"},
		{Name: "get", Method: "GET", URLTemplate: "/products/{sku}"},
		{Name: "search", Method: "GET", URLTemplate: "/products/search?q={q}"},
		{Name: "report", Method: "GET", URLTemplate: "/reports/2024/summary"},
		{Name: "files", Method: "GET", URLTemplate: "/files/*"},
		{Name: "create", Method: "POST", URLTemplate: "/products"},
	}}
	for _, c := range []struct {
		version, method, tmpl, want string
	}{
		{"", "GET", "/shop/catalog/products", "list"},
		{"", "get", "/shop/catalog/products/", "list"},
		{"", "GET", "/shop/catalog/products/{id}", "get"},
		{"", "GET", "/shop/catalog/products/ABC-123", "get"},
		{"", "GET", "/shop/catalog/products/search", "search"},
		{"", "GET", "/shop/catalog/reports/{id}/summary", "report"},
		{"", "GET", "/shop/catalog/files/a/b/c.txt", "files"},
		{"", "POST", "/shop/catalog/products", "create"},
		{"", "DELETE", "/shop/catalog/products", ""},
		{"", "GET", "/other/products", ""},
		{"", "GET", "/shop/catalog/products/{id}/reviews", ""},
		{"v2", "GET", "/shop/catalog/v2/products/{id}", "get"},
		{"", "GET", "/shop/catalog/v2/products/{id}", ""},
	} {
		got := matchOperation(api, c.version, c.method, c.tmpl)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != c.want {
			t.Errorf("%s %s (version %q): %q, want %q", c.method, c.tmpl, c.version, name, c.want)
		}
	}
}

func TestSplitDetectorKey(t *testing.T) {
	for _, c := range []struct{ key, api, method, tmpl string }{
		{"orders GET /orders/{id}", "orders", "GET", "/orders/{id}"},
		{"orders;rev=2 POST /orders", "orders", "POST", "/orders"},
		{"orders GET /a b", "orders", "GET", "/a b"},
		{"orders GET", "", "", ""},
		{" GET /x", "", "", ""},
	} {
		api, method, tmpl, ok := splitDetectorKey(c.key)
		if api != c.api || method != c.method || tmpl != c.tmpl || ok != (c.api != "") {
			t.Errorf("%q: %q %q %q %v", c.key, api, method, tmpl, ok)
		}
	}
}

// Resource-id keys (a snapshot's) and detector keys land on the same APIs; an API's
// time is the latest of its own and its operations'.
func TestAttributeLastSeen(t *testing.T) {
	at := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	services := []triage.Service{{APIs: []triage.API{
		{ID: svc + "/apis/orders", Name: "orders", Path: "orders", Operations: []triage.Operation{{Name: "get", Method: "GET", URLTemplate: "/{id}"}}},
		{ID: svc + "/apis/quiet", Name: "quiet", Path: "quiet"},
	}}}
	attributeLastSeen(services, map[string]time.Time{
		"orders GET /orders/{id}":             at(3),
		strings.ToUpper(svc) + "/APIS/ORDERS": at(2),
		svc + "/apis/quiet":                   at(5),
		svc + "/apis/orders/operations/get":   at(4),
		svc + "/apis/gone/operations/get":     at(9),
		"nobody GET /x":                       at(9),
		"malformed":                           at(9),
	}, nil)
	orders, quiet := services[0].APIs[0], services[0].APIs[1]
	if !orders.LastSeen.Equal(at(4)) || !orders.Operations[0].LastSeen.Equal(at(4)) || !quiet.LastSeen.Equal(at(5)) {
		t.Errorf("orders %s/%s quiet %s", orders.LastSeen, orders.Operations[0].LastSeen, quiet.LastSeen)
	}
}

// The operation comes from resourceDetails.id, or from the assessment's own id when the
// SDK could not read the details (the service spells them Source/Id at times).
func TestAssessmentOf(t *testing.T) {
	op := svc + "/apis/orders/operations/get-order"
	unhealthy := armsecurity.AssessmentStatusCodeUnhealthy
	for _, c := range []struct {
		name    string
		a       *armsecurity.AssessmentResponse
		keep    bool
		api, id string
	}{
		{"details", &armsecurity.AssessmentResponse{Name: to.Ptr(triage.AssessmentAuthenticated), ID: to.Ptr("/x"),
			Properties: &armsecurity.AssessmentPropertiesResponse{ResourceDetails: &armsecurity.AzureResourceDetails{ID: to.Ptr(op)},
				Status: &armsecurity.AssessmentStatusResponse{Code: &unhealthy}}}, true, "orders", op},
		{"unreadable details", &armsecurity.AssessmentResponse{Name: to.Ptr(triage.AssessmentUnused),
			ID:         to.Ptr(op + "/providers/Microsoft.Security/assessments/" + triage.AssessmentUnused),
			Properties: &armsecurity.AssessmentPropertiesResponse{ResourceDetails: &armsecurity.ResourceDetails{}}}, true, "orders", op},
		{"another key", &armsecurity.AssessmentResponse{Name: to.Ptr("1c0ba94f-e732-43c7-bf3a-05e80f45d642"), ID: to.Ptr(op + "/providers/Microsoft.Security/assessments/x")}, false, "", ""},
		{"not an operation", &armsecurity.AssessmentResponse{Name: to.Ptr(triage.AssessmentAuthenticated), ID: to.Ptr(svc + "/providers/Microsoft.Security/assessments/x")}, false, "", ""},
		{"nil", nil, false, "", ""},
	} {
		got, keep := assessmentOf(c.a)
		if keep != c.keep || got.api != c.api || got.out.Operation != c.id || (keep && got.service != strings.ToLower(svc)) {
			t.Errorf("%s: %+v %v", c.name, got, keep)
		}
	}
}

func TestPlanOff(t *testing.T) {
	for _, c := range []struct {
		f    failure
		want bool
	}{
		{failure{status: 409, code: "MissingSubscriptionRegistration"}, true},
		{failure{status: 400, code: "DefenderPlanNotEnabled"}, true},
		{failure{status: 403, code: "AuthorizationFailed"}, false},
		{failure{status: 404, code: "ResourceNotFound"}, false},
		{failure{status: 500, code: "PlanServiceDown"}, false},
	} {
		if planOff(c.f) != c.want {
			t.Errorf("%+v: %v", c.f, !c.want)
		}
	}
}

func TestKeyOf(t *testing.T) {
	for _, c := range []struct{ path, key string }{
		{"/subscriptions/S/resourceGroups/RG/providers/Microsoft.ApiManagement/service/x/apis/orders;rev=2", "subscriptions/s/resourcegroups/rg/providers/microsoft.apimanagement/service/x/apis/orders;rev=2"},
		{"/providers/Microsoft.Security/x", "providers/microsoft.security/x"},
		{"/subscriptions/s/../x", ""},
		{"/subscriptions/s/./x", ""},
		{"/subscriptions//x", ""},
		{"/subscriptions/s/a\\b", ""},
		{"/subscriptions/s/c:", ""},
		{"/subscriptions/s/a\x00", ""},
		{"/apiguard/last-seen", ""},
		{"/", ""},
		{"/subscriptions/" + strings.Repeat("a", maxKey), ""},
	} {
		k, err := keyOf(c.path)
		if k != c.key || (err != nil) != (c.key == "") {
			t.Errorf("%q: %q %v", c.path, k, err)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("%q: %v is not a refusal", c.path, err)
		}
	}
}

// A page that fails after the first makes the recorded list a failure, as the collector
// saw it; a list read to its end drops its nextLink.
func TestRecorderPages(t *testing.T) {
	pages := map[string]*http.Response{}
	answer := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
	}
	base := "https://management.azure.com/subscriptions/s/providers/microsoft.apimanagement/service"
	pages[base+"?api-version=1"] = answer(200, `{"value":[{"name":"a"}],"nextLink":"`+base+`?api-version=1&$skiptoken=2"}`)
	pages[base+"?$skiptoken=2&api-version=1"] = answer(200, `{"value":[{"name":"b"}],"nextLink":"`+base+`/p3?api-version=1"}`)
	pages[base+"/p3?api-version=1"] = answer(200, `{"value":[{"name":"c"}]}`)
	r := NewRecorder(transport(func(req *http.Request) (*http.Response, error) {
		resp := pages[req.URL.String()]
		if resp == nil {
			t.Fatalf("unexpected %s", req.URL)
		}
		return resp, nil
	}))
	for _, u := range []string{base + "?api-version=1", base + "?$skiptoken=2&api-version=1", base + "/p3?api-version=1"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := r.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	e := r.entries["subscriptions/s/providers/microsoft.apimanagement/service"]
	body, err := e.bytes()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"value":[{"name":"a"},{"name":"b"},{"name":"c"}]}` || len(r.entries) != 1 || len(r.pending) != 0 {
		t.Errorf("merged %s, entries %d, pending %v", body, len(r.entries), r.pending)
	}

	// A next page that fails once and succeeds when retried: the list is whole.
	r = NewRecorder(transport(func(req *http.Request) (*http.Response, error) { return pages[req.URL.String()], nil }))
	for _, step := range []struct{ url, status, body string }{
		{base + "?api-version=1", "200", `{"value":[{"name":"a"}],"nextLink":"` + base + `?api-version=1&$skiptoken=2"}`},
		{base + "?$skiptoken=2&api-version=1", "503", `{"error":{"code":"ServiceUnavailable"}}`},
		{base + "?$skiptoken=2&api-version=1", "200", `{"value":[{"name":"b"}]}`},
	} {
		status := 200
		if step.status != "200" {
			status = 503
		}
		pages[step.url] = answer(status, step.body)
		req, _ := http.NewRequest(http.MethodGet, step.url, nil)
		_, _ = r.Do(req)
	}
	e = r.entries["subscriptions/s/providers/microsoft.apimanagement/service"]
	if got, _ := e.bytes(); string(got) != `{"value":[{"name":"a"},{"name":"b"}]}` {
		t.Errorf("after a retried page: %s", got)
	}
	if status, _ := e.failure(); status != 0 {
		t.Errorf("a retried page left the failure %d", status)
	}

	// A next page that fails for good: the list is written as that failure.
	pages[base+"?api-version=1"] = answer(200, `{"value":[{"name":"a"}],"nextLink":"`+base+`?api-version=1&$skiptoken=2"}`)
	pages[base+"?$skiptoken=2&api-version=1"] = answer(403, `{"error":{"code":"AuthorizationFailed"}}`)
	for _, u := range []string{base + "?api-version=1", base + "?$skiptoken=2&api-version=1"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		_, _ = r.Do(req)
	}
	if status, _ := r.entries["subscriptions/s/providers/microsoft.apimanagement/service"].failure(); status != 403 {
		t.Errorf("a failed page: %d", status)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		t.Error("merged list is not JSON")
	}
}

type transport func(*http.Request) (*http.Response, error)

func (f transport) Do(req *http.Request) (*http.Response, error) { return f(req) }

func TestBoundedBody(t *testing.T) {
	for _, c := range []struct {
		size int
		ok   bool
	}{{10, true}, {11, false}, {0, true}, {4096, false}} {
		b := &boundedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", c.size))), left: 10, max: 10}
		got, err := io.ReadAll(b)
		var big *errTooLarge
		if (err == nil) != c.ok || (!c.ok && !errors.As(err, &big)) || (c.ok && len(got) != c.size) {
			t.Errorf("%d bytes: %d read, %v", c.size, len(got), err)
		}
	}
}

// The pacer spaces requests: ten at 100 a second take at least 90 ms.
func TestPacer(t *testing.T) {
	p := pacer{every: every(100)}
	start := time.Now()
	for range 10 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("10 requests at 100/s in %s", took)
	}
	if every(-1) != 0 || every(0) != 0 {
		t.Error("no pacing when not asked")
	}
}
