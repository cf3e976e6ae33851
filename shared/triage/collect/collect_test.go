package collect_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

func collectWorld(t *testing.T, w *triagetest.World) (triage.Inventory, collect.Stats) {
	t.Helper()
	o := w.Options()
	var st collect.Stats
	o.Stats = &st
	inv, err := collect.Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return inv, st
}

// named finds the item called name, failing the test when there is none.
func named[T any](t *testing.T, items []T, name string, nameOf func(*T) string) *T {
	t.Helper()
	for i := range items {
		if nameOf(&items[i]) == name {
			return &items[i]
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func findService(t *testing.T, inv triage.Inventory, name string) *triage.Service {
	t.Helper()
	return named(t, inv.Services, name, func(s *triage.Service) string { return s.Name })
}

func findAPI(t *testing.T, s *triage.Service, name string) *triage.API {
	t.Helper()
	return named(t, s.APIs, name, func(a *triage.API) string { return a.Name })
}

func findOp(t *testing.T, a *triage.API, name string) *triage.Operation {
	t.Helper()
	return named(t, a.Operations, name, func(o *triage.Operation) string { return o.Name })
}

// The collector over the scenario reads the facts the ranks rest on.
func TestScenarioInventory(t *testing.T) {
	inv, _ := collectWorld(t, triagetest.Scenario())
	exp := triagetest.ScenarioExpected()

	if !inv.Collected.Equal(triagetest.Month1) || !inv.WatchingSince.Equal(triagetest.WatchingSince) {
		t.Errorf("times %s %s", inv.Collected, inv.WatchingSince)
	}
	if len(inv.Services) != 2 {
		t.Fatalf("%d services, want the shop and the partner service (the retired one is a gap)", len(inv.Services))
	}

	// Exactly the current revisions the expected data ranks, onboarded as it says.
	var ids []string
	for _, s := range inv.Services {
		for _, a := range s.APIs {
			ids = append(ids, a.ID)
			x := exp.API(a.ID)
			if x == nil {
				t.Errorf("unexpected API %s", a.ID)
				continue
			}
			if (a.Defender != nil) != x.Onboarded {
				t.Errorf("%s onboarded %v, want %v", a.Name, a.Defender != nil, x.Onboarded)
			}
			if !a.IsCurrent || strings.Contains(a.Name, ";") {
				t.Errorf("non-current revision %s kept", a.Name)
			}
		}
	}
	if len(ids) != len(exp.APIs) {
		t.Errorf("%d APIs, want %d", len(ids), len(exp.APIs))
	}

	shop := findService(t, inv, triagetest.ShopService)
	partner := findService(t, inv, triagetest.PartnerService)
	if shop.SKU != "Premium" || shop.Network != "None" || partner.SKU != "StandardV2" || partner.Network != "External" {
		t.Errorf("service settings %s/%s %s/%s", shop.SKU, shop.Network, partner.SKU, partner.Network)
	}
	if shop.Capacity == nil || *shop.Capacity != 37.5 || partner.Capacity == nil || *partner.Capacity != 12.5 {
		t.Errorf("capacity %v %v", shop.Capacity, partner.Capacity)
	}
	if shop.Defender != (triage.DefenderState{Collections: true, Assessments: true}) {
		t.Errorf("shop Defender %+v", shop.Defender)
	}
	if partner.Defender != (triage.DefenderState{PlanOff: true}) {
		t.Errorf("partner Defender %+v", partner.Defender)
	}

	// Keys: the API's own setting, and products with their state and setting.
	orders := findAPI(t, shop, "orders")
	if orders.SubscriptionRequired || orders.Revision != "1" || !slices.Equal(orders.Products, []string{"starter"}) ||
		!slices.Equal(orders.Tags, []string{"public"}) || orders.Path != "orders" || !slices.Equal(orders.Protocols, []string{"https"}) {
		t.Errorf("orders %+v", orders)
	}
	profile := findAPI(t, shop, "customer-profile")
	if !profile.SubscriptionRequired || !slices.Equal(profile.Products, []string{"public-docs", "unlimited"}) {
		t.Errorf("customer-profile key %v products %v", profile.SubscriptionRequired, profile.Products)
	}
	products := map[string]triage.Product{}
	for _, p := range shop.Products {
		products[p.Name] = p
	}
	if p := products["public-docs"]; p.SubscriptionRequired || p.State != "published" || !p.Policy.Found || !slices.Equal(p.APIs, []string{"customer-profile"}) {
		t.Errorf("public-docs %+v", p)
	}
	if p := products["legacy-partners"]; p.State != "notPublished" || !p.SubscriptionRequired || p.Policy.Found {
		t.Errorf("legacy-partners %+v", p)
	}
	if len(findAPI(t, shop, "store-locator").Products) != 0 {
		t.Error("store-locator is in no product")
	}
	if old := findAPI(t, shop, "old-reports"); old.VersionSetID == "" {
		t.Error("old-reports lost its version set")
	}

	// Policies at every scope, byte for byte; absent scopes inherit; one is unreadable.
	if !shop.Global.Found || !strings.Contains(shop.Global.XML, `GetValueOrDefault("X-Correlation-Id", context.RequestId.ToString())`) {
		t.Errorf("shop global policy %+v", shop.Global)
	}
	if !strings.Contains(partner.Global.XML, "<validate-jwt") {
		t.Error("partner global policy has no validate-jwt")
	}
	if orders.Policy.Found || orders.Policy.Unread {
		t.Errorf("orders has no API policy: %+v", orders.Policy)
	}
	if p := findOp(t, orders, "create-order").Policy; !p.Found || !strings.Contains(p.XML, `Where(l => (int)l["qty"] > 0)`) {
		t.Errorf("create-order policy %+v", p)
	}
	search := findAPI(t, shop, "search")
	if !strings.Contains(search.Policy.XML, `@(context.Request.Method != "GET" && context.Request.Headers.ContainsKey("X-Partner"))`) {
		t.Errorf("search policy re-serialized: %s", search.Policy.XML)
	}
	invoices := findAPI(t, shop, "invoices")
	if p := findOp(t, invoices, "get-invoice").Policy; p.Found || !p.Unread {
		t.Errorf("get-invoice policy %+v, want unread", p)
	}
	if p := findOp(t, invoices, "list-invoices").Policy; p.Found || p.Unread {
		t.Errorf("list-invoices policy %+v, want none", p)
	}
	callback := findOp(t, findAPI(t, partner, "fulfilment"), "post-callback")
	inbound, _, _ := strings.Cut(callback.Policy.XML, "</inbound>")
	if !callback.Policy.Found || strings.Contains(inbound, "<base") {
		t.Errorf("post-callback policy %+v", callback.Policy)
	}

	// Defender: counts and label; the non-current revision's collection and
	// assessments are dropped, other resources' and other keys' too.
	pay := findAPI(t, shop, "payments")
	if d := pay.Defender; d == nil || *d != (triage.Collection{ProvisioningState: "Succeeded", Endpoints: 3, External: 2, SensitiveData: 2, SensitivityLabel: "Highly Confidential"}) {
		t.Errorf("payments collection %+v", pay.Defender)
	}
	if d := orders.Defender; d == nil || d.Unauthenticated != 4 || d.Inactive != 0 {
		t.Errorf("orders collection %+v (the non-current revision's is all inactive)", orders.Defender)
	}
	if len(orders.Assessments) != 8 {
		t.Errorf("orders has %d assessments, want 2 per operation", len(orders.Assessments))
	}
	for _, a := range orders.Assessments {
		if strings.Contains(a.Operation, ";rev=") || (a.Key != triage.AssessmentAuthenticated && a.Key != triage.AssessmentUnused) {
			t.Errorf("orders assessment %+v", a)
		}
		if a.Key == triage.AssessmentAuthenticated && a.Status != "Unhealthy" {
			t.Errorf("orders assessment %+v", a)
		}
	}
	var unhealthy []string
	for _, a := range search.Assessments {
		if a.Key == triage.AssessmentAuthenticated && a.Status == "Unhealthy" {
			unhealthy = append(unhealthy, a.Operation[strings.LastIndexByte(a.Operation, '/')+1:])
		}
	}
	if !slices.Equal(unhealthy, []string{"query"}) {
		t.Errorf("search unauthenticated operations %v", unhealthy)
	}
	for _, a := range partner.APIs {
		if a.Defender != nil || len(a.Assessments) > 0 {
			t.Errorf("%s has Defender data on a plan-off subscription", a.Name)
		}
	}

	// Sensitive tags as tagged; operation and product tags are not API tags.
	if tags := findAPI(t, partner, "claims").Tags; !slices.Equal(tags, []string{"pii"}) {
		t.Errorf("claims tags %v", tags)
	}

	// apiguard's evidence: per operation by method and template, per API the latest.
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, c := range []struct {
		svc       *triage.Service
		api, op   string
		api2, op2 time.Time
	}{
		{shop, "legacy-export", "export-orders", at("2026-08-10T14:22:00Z"), at("2026-08-10T14:22:00Z")},
		{shop, "orders", "cancel-order", at("2026-11-30T18:37:00Z"), at("2026-10-02T08:30:00Z")},
		{shop, "catalog", "search-products", at("2026-11-30T18:37:00Z"), at("2026-11-30T18:23:00Z")},
		{shop, "catalog", "get-product", at("2026-11-30T18:37:00Z"), at("2026-11-30T18:30:00Z")},
		{partner, "echo-api", "retrieve-resource", at("2026-11-30T18:37:00Z"), at("2026-11-30T18:37:00Z")},
		{partner, "sandbox", "ping", time.Time{}, time.Time{}},
	} {
		a := findAPI(t, c.svc, c.api)
		if !a.LastSeen.Equal(c.api2) || !findOp(t, a, c.op).LastSeen.Equal(c.op2) {
			t.Errorf("%s last seen %s, %s %s; want %s, %s", c.api, a.LastSeen, c.op, findOp(t, a, c.op).LastSeen, c.api2, c.op2)
		}
	}

	// Every gap the scenario holds, with an effect, and no other.
	type gap struct{ scope, what, err string }
	var got, want []gap
	for _, g := range inv.Gaps {
		got = append(got, gap{g.Scope, g.What, g.Error})
		if g.Effect == "" {
			t.Errorf("gap %+v has no effect", g)
		}
	}
	for _, g := range exp.Gaps {
		want = append(want, gap{g.Scope, g.What, g.Error})
	}
	slices.SortFunc(got, func(a, b gap) int { return strings.Compare(a.scope+a.what, b.scope+b.what) })
	slices.SortFunc(want, func(a, b gap) int { return strings.Compare(a.scope+a.what, b.scope+b.what) })
	if !slices.Equal(got, want) {
		t.Errorf("gaps\n got %v\nwant %v", got, want)
	}
}

// The scenario costs a known number of ARM requests: one list per collection, one get
// per scope that the policy list names, the SDK's three retries of the one failing
// policy.
func TestScenarioCallCount(t *testing.T) {
	_, st := collectWorld(t, triagetest.Scenario())
	want := map[string]int{
		"ServiceClient.NewListPager":                                   1,  // the shop subscription
		"ServiceClient.Get":                                            2,  // the partner service, the retired one (404)
		"APIClient.NewListByServicePager":                              5,  // 20 + 10 current APIs in pages of 8
		"APIOperationClient.NewListByAPIPager":                         30, // one per API
		"AllPoliciesClient.NewListByServicePager":                      3,  // 13 shop references in pages of 8 (one to a non-current revision, not read), 8 partner ones
		"APIPolicyClient.Get":                                          9,  // the 9 APIs with a policy of their own
		"APIOperationPolicyClient.Get":                                 9,  // 6 operations with a policy, get-invoice's 500 tried 4 times
		"ProductClient.NewListByServicePager":                          2,
		"ProductAPIClient.NewListByProductPager":                       7, // 6 products, unlimited's 13 APIs in 2 pages
		"ProductPolicyClient.Get":                                      3, // the 3 products with a policy
		"PolicyClient.Get":                                             2,
		"TagResourceClient.NewListByServicePager":                      2,
		"MetricsClient.List":                                           2,
		"AssessmentsClient.NewListPager":                               13, // 91 shop items in pages of 8, the partner's 403
		"APICollectionsClient.NewListByAzureAPIManagementServicePager": 4,  // 17 shop collections in 3 pages, the partner's 409
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if st.Calls != total || !maps.Equal(st.ByKind, want) {
		t.Errorf("calls %d %v\nwant %d %v", st.Calls, st.ByKind, total, want)
	}
}

// A month later: the new current revision, the removed and the new API.
func TestNextMonthInventory(t *testing.T) {
	inv, _ := collectWorld(t, triagetest.ScenarioNextMonth())
	shop := findService(t, inv, triagetest.ShopService)
	orders := findAPI(t, shop, "orders")
	if orders.Revision != "2" || !orders.SubscriptionRequired {
		t.Errorf("orders revision %s key %v", orders.Revision, orders.SubscriptionRequired)
	}
	for _, a := range shop.APIs {
		if a.Name == "store-locator" {
			t.Error("store-locator was removed")
		}
	}
	if g := findAPI(t, shop, "gift-cards"); g.Defender != nil || !slices.Equal(g.Products, []string{"starter"}) {
		t.Errorf("gift-cards %+v", g)
	}
	if c := findAPI(t, shop, "catalog"); !slices.Equal(c.Products, []string{"public-docs", "unlimited"}) {
		t.Errorf("catalog products %v", c.Products)
	}
	if !inv.Collected.Equal(triagetest.Month2) {
		t.Errorf("collected %s", inv.Collected)
	}
	if len(inv.Gaps) != len(triagetest.NextMonthExpected().Gaps) {
		t.Errorf("gaps %v", inv.Gaps)
	}
}

// A service that does not answer the policy list (an older one, or a 4xx) has every
// scope read instead: the same inventory for more requests.
func TestPolicyListFallback(t *testing.T) {
	listed, st := collectWorld(t, triagetest.Scenario())
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound} {
		w := triagetest.Scenario()
		for _, id := range []string{triagetest.ShopID, triagetest.PartnerID} {
			w.Faults[strings.ToLower(id+"/allPolicies")] = triagetest.Fault{Status: status, Code: "NoPolicyList"}
		}
		every, st2 := collectWorld(t, w)
		if a, b := asJSON(t, listed), asJSON(t, every); a != b {
			t.Errorf("%d: reading every scope gives another inventory than reading the listed ones\n got %.300s\nwant %.300s", status, b, a)
		}
		if got, want := st2.ByKind["APIOperationPolicyClient.Get"], 64; got != want {
			t.Errorf("%d: %d operation policy reads, want one per operation (61) and get-invoice's retries: %d", status, got, want)
		}
		if st2.Calls <= st.Calls {
			t.Errorf("%d: %d calls without the list, %d with it", status, st2.Calls, st.Calls)
		}
	}
}
