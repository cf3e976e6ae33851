package triagetest

import (
	"net/http"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/triage"
)

// The scenario's subscriptions, services and times.
const (
	// SubShop holds the shop service: Defender for APIs on, assessments readable.
	SubShop = "6f1c2a3b-0d4e-4f5a-9b6c-7d8e9f0a1b2c"
	// SubPartner holds the partner service: Defender for APIs off (the collections
	// list answers a registration error) and the assessments list answers 403.
	SubPartner = "b2d7e1f0-3c4a-4b5d-8e6f-0a1b2c3d4e5f"

	ShopService    = "apim-shop-prod"   // Premium, no VNet (public), in scope through its subscription
	PartnerService = "apim-partner-int" // StandardV2, External VNet, in scope by its id
	RetiredService = "apim-legacy"      // in scope by its id, deleted: answers 404
)

// Month1 and Month2 are when the two scenarios were collected; WatchingSince is when
// apiguard started seeing traffic (153 days before Month1).
var (
	Month1        = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	Month2        = time.Date(2027, 1, 1, 6, 0, 0, 0, time.UTC)
	WatchingSince = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
)

// SensitiveTags is the APIGUARD_TRIAGE_SENSITIVE_TAGS the expected data assumes.
var SensitiveTags = []string{"pii", "payment", "health"}

// ServiceID is the resource id of a scenario service.
func ServiceID(sub, rg, name string) string {
	return azureapim.Service{Subscription: sub, ResourceGroup: rg, Name: name}.String()
}

// The scenario's service ids.
var (
	ShopID    = ServiceID(SubShop, "rg-shop-prod", ShopService)
	PartnerID = ServiceID(SubPartner, "rg-partner", PartnerService)
	RetiredID = ServiceID(SubPartner, "rg-partner", RetiredService)
)

// Scenario is the first month: 30 APIs (20 in the shop service, 10 in the partner
// service) covering every row of the risk table and every authentication path; see
// testdata/scenario.json for what each exercises and its expected rank.
func Scenario() *World { return build(false) }

// ScenarioNextMonth is the same estate a month later: gift-cards is new, store-locator
// removed, orders gained a subscription key (fell), catalog lost it (rose), loyalty is
// newly inactive, warehouse masks its sensitive data (resolved: P2 to P3), and
// customer-profile left the open product (a rule gone, its rank unchanged: no change).
func ScenarioNextMonth() *World { return build(true) }

func op(name, display, method, tmpl string) *Operation {
	return &Operation{Name: name, DisplayName: display, Method: method, URLTemplate: tmpl}
}

func defender(endpoints, inactive, unauth, external, sensitive int, label string) *triage.Collection {
	return &triage.Collection{ProvisioningState: "Succeeded", Endpoints: endpoints, Inactive: inactive,
		Unauthenticated: unauth, External: external, SensitiveData: sensitive, SensitivityLabel: label}
}

func build(next bool) *World {
	collected := Month1
	if next {
		collected = Month2
	}
	w := &World{
		Name:          "month-1",
		Collected:     collected,
		WatchingSince: WatchingSince,
		Scopes:        []string{"/subscriptions/" + SubShop, PartnerID, RetiredID},
		SensitiveTags: SensitiveTags,
		Assessments:   map[string][]Assessment{},
		Seen:          map[string]time.Time{},
		Faults:        map[string]Fault{},
		PageSize:      8,
	}
	if next {
		w.Name = "month-2"
	}
	shop := shopService(next)
	partner := partnerService()
	w.Services = []*Service{shop, partner}

	// Defender for APIs is off on the partner subscription, and the identity may not
	// read its assessments.
	w.Faults[strings.ToLower(PartnerID+"/providers/Microsoft.Security/apiCollections")] = Fault{
		Status: http.StatusConflict, Code: "MissingSubscriptionRegistration",
		Message: "The subscription is not registered to use namespace 'Microsoft.Security'. See https://aka.ms/rps-not-found for how to register subscriptions.",
	}
	w.Faults[strings.ToLower("/subscriptions/"+SubPartner+"/providers/Microsoft.Security/assessments")] = Fault{
		Status: http.StatusForbidden, Code: "AuthorizationFailed",
		Message: "The client does not have authorization to perform action 'Microsoft.Security/assessments/read' over scope '/subscriptions/" + SubPartner + "'.",
	}
	// One operation policy the service cannot serve.
	w.Faults[strings.ToLower(ShopID+"/apis/invoices/operations/get-invoice/policies/policy")] = Fault{
		Status: http.StatusInternalServerError, Code: "InternalServerError",
		Message: "Request processing failed due to internal error.",
	}

	w.Assessments[strings.ToLower(SubShop)] = shopAssessments(shop)
	w.seeAll(collected, next)
	return w
}

// shopService is the public shop service, Defender for APIs on.
func shopService(next bool) *Service {
	s := &Service{
		Subscription: SubShop, ResourceGroup: "rg-shop-prod", Name: ShopService,
		SKU: "Premium", Network: "None", Global: shopGlobal,
		Load: []float64{21.0, 37.5, 30.2, 28.8},
	}
	https := []string{"https"}
	add := func(a *API) *API {
		if a.Revision == "" {
			a.Revision = "1"
		}
		if a.Protocols == nil {
			a.Protocols = https
		}
		s.APIs = append(s.APIs, a)
		return a
	}
	orders := add(&API{Name: "orders", DisplayName: "Orders", Path: "orders", Tags: []string{"public"},
		Operations: []*Operation{
			op("list-orders", "List orders", "GET", "/"),
			op("get-order", "Get order", "GET", "/{orderId}"),
			{Name: "create-order", DisplayName: "Create order", Method: "POST", URLTemplate: "/", Policy: createOrderOperation},
			op("cancel-order", "Cancel order", "POST", "/{orderId}/cancel"),
		},
		Defender: defender(4, 0, 4, 3, 0, "")})
	ordersRev := add(&API{Name: "orders;rev=2", DisplayName: "Orders", Path: "orders", Revision: "2", NotCurrent: true,
		SubscriptionRequired: true, Operations: orders.Operations, Defender: defender(4, 4, 0, 0, 0, "")})
	if next {
		// Revision 2, which requires a subscription key, is made current.
		orders.Revision, ordersRev.Revision = "2", "1"
		ordersRev.Name = "orders;rev=1"
		orders.SubscriptionRequired, ordersRev.SubscriptionRequired = true, false
		orders.Defender = defender(4, 0, 0, 3, 0, "")
	}
	add(&API{Name: "payments", DisplayName: "Payments", Path: "payments", SubscriptionRequired: true,
		Operations: []*Operation{
			op("authorize", "Authorize payment", "POST", "/authorize"),
			op("capture", "Capture payment", "POST", "/{paymentId}/capture"),
			op("get-payment", "Get payment", "GET", "/{paymentId}"),
		},
		Defender: defender(3, 0, 0, 2, 2, "Highly Confidential")})
	profile := add(&API{Name: "customer-profile", DisplayName: "Customer Profile", Path: "customers", SubscriptionRequired: true,
		Operations: []*Operation{
			op("get-profile", "Get profile", "GET", "/{customerId}"),
			op("update-profile", "Update profile", "PUT", "/{customerId}"),
			op("list-addresses", "List addresses", "GET", "/{customerId}/addresses"),
		},
		Defender: defender(3, 0, 3, 2, 1, "Confidential")})
	catalog := add(&API{Name: "catalog", DisplayName: "Catalog", Path: "catalog", SubscriptionRequired: true,
		Operations: []*Operation{
			op("list-products", "List products", "GET", "/products"),
			op("get-product", "Get product", "GET", "/products/{sku}"),
			op("search-products", "Search products", "GET", "/products/search?q={q}"),
		},
		Defender: defender(3, 0, 0, 3, 0, "")})
	warehouse := add(&API{Name: "warehouse", DisplayName: "Warehouse", Path: "warehouse", SubscriptionRequired: true,
		Operations: []*Operation{
			op("list-stock", "List stock", "GET", "/stock"),
			op("adjust-stock", "Adjust stock", "POST", "/stock/{itemId}/adjust"),
			op("list-staff", "List staff", "GET", "/staff"),
		},
		Defender: defender(3, 0, 0, 0, 3, "Confidential")})
	if !next {
		add(&API{Name: "store-locator", DisplayName: "Store Locator", Path: "stores",
			Operations: []*Operation{
				op("list-stores", "List stores", "GET", "/"),
				op("get-store", "Get store", "GET", "/{storeId}"),
			},
			Defender: defender(2, 0, 2, 0, 0, "")})
	}
	add(&API{Name: "legacy-export", DisplayName: "Legacy Export", Path: "export", Protocols: []string{"http", "https"},
		Operations: []*Operation{
			op("export-orders", "Export orders", "GET", "/orders.csv"),
			op("export-customers", "Export customers", "GET", "/customers.csv"),
		}})
	add(&API{Name: "old-reports", DisplayName: "Old Reports", Path: "reports", SubscriptionRequired: true,
		VersionSetID: ShopID + "/apiVersionSets/reports", Version: "v1",
		Operations: []*Operation{
			op("daily", "Daily report", "GET", "/daily"),
			op("monthly", "Monthly report", "GET", "/monthly"),
		},
		Defender: defender(2, 2, 0, 0, 0, "")})
	add(&API{Name: "loyalty", DisplayName: "Loyalty", Path: "loyalty", SubscriptionRequired: true,
		Operations: []*Operation{
			op("get-points", "Get points", "GET", "/members/{memberId}/points"),
			op("redeem", "Redeem points", "POST", "/members/{memberId}/redeem"),
			op("list-rewards", "List rewards", "GET", "/rewards"),
		},
		Defender: defender(3, 3, 0, 0, 0, "")})
	add(&API{Name: "returns", DisplayName: "Returns", Path: "returns", Policy: jwtAPI,
		Operations: []*Operation{
			op("create-return", "Create return", "POST", "/"),
			op("get-return", "Get return", "GET", "/{returnId}"),
			op("list-returns", "List returns", "GET", "/"),
		},
		Defender: defender(3, 0, 0, 2, 0, "")})
	add(&API{Name: "shipping", DisplayName: "Shipping", Path: "shipping",
		Operations: []*Operation{
			{Name: "quote", DisplayName: "Quote shipping", Method: "POST", URLTemplate: "/quotes", Policy: jwtOperation},
			{Name: "track", DisplayName: "Track shipment", Method: "GET", URLTemplate: "/shipments/{trackingId}", Policy: jwtOperation},
		},
		Defender: defender(2, 0, 0, 2, 0, "")})
	add(&API{Name: "search", DisplayName: "Search", Path: "search", Policy: chooseAPI,
		Operations: []*Operation{
			op("query", "Query", "GET", "/"),
			op("reindex", "Reindex", "POST", "/reindex"),
		},
		Defender: defender(2, 0, 1, 2, 0, "")})
	add(&API{Name: "directory-lookup", DisplayName: "Directory Lookup", Path: "directory", Policy: aadTokenAPI,
		Operations: []*Operation{
			op("find-people", "Find people", "GET", "/people"),
			op("get-person", "Get person", "GET", "/people/{upn}"),
		},
		Defender: defender(2, 0, 0, 1, 0, "")})
	add(&API{Name: "b2b-edi", DisplayName: "B2B EDI", Path: "edi", Policy: clientCertAPI,
		Operations: []*Operation{
			op("submit-order", "Submit EDI order", "POST", "/orders"),
			op("get-ack", "Get acknowledgement", "GET", "/acks/{ackId}"),
		},
		Defender: defender(2, 0, 0, 2, 0, "")})
	add(&API{Name: "notifications", DisplayName: "Notifications", Path: "notifications", SubscriptionRequired: true, Tags: []string{"pii"},
		Operations: []*Operation{
			op("send", "Send notification", "POST", "/"),
			op("list-templates", "List templates", "GET", "/templates"),
		},
		Defender: defender(2, 0, 0, 0, 0, "")})
	// Not onboarded: nothing but the unreadable policy could tell its authentication.
	add(&API{Name: "invoices", DisplayName: "Invoices", Path: "invoices", Policy: invoicesAPI,
		Operations: []*Operation{
			op("get-invoice", "Get invoice", "GET", "/{invoiceId}"),
			op("list-invoices", "List invoices", "GET", "/"),
		}})
	add(&API{Name: "recommendations", DisplayName: "Recommendations", Path: "recommendations", SubscriptionRequired: true,
		Operations: []*Operation{
			op("for-customer", "Recommendations for a customer", "GET", "/customers/{customerId}"),
			op("trending", "Trending", "GET", "/trending"),
		},
		Defender: defender(2, 0, 0, 0, 0, "Confidential")})
	add(&API{Name: "currency", DisplayName: "Currency", Path: "fx", SubscriptionRequired: true, Tags: []string{"finance"},
		Operations: []*Operation{
			op("rates", "Rates", "GET", "/rates"),
			op("convert", "Convert", "GET", "/convert"),
		},
		Defender: defender(2, 0, 0, 2, 0, "")})
	add(&API{Name: "echo-api", DisplayName: "Echo API", Path: "echo", SubscriptionRequired: true,
		Operations: []*Operation{
			op("retrieve-resource", "Retrieve resource", "GET", "/resource"),
			op("create-resource", "Create resource", "POST", "/resource"),
		}})
	add(&API{Name: "marketing-content", DisplayName: "Marketing Content", Path: "content", SubscriptionRequired: true,
		Operations: []*Operation{
			op("list-banners", "List banners", "GET", "/banners"),
			op("get-banner", "Get banner", "GET", "/banners/{bannerId}"),
		}})
	if next {
		add(&API{Name: "gift-cards", DisplayName: "Gift Cards", Path: "giftcards", SubscriptionRequired: true,
			Operations: []*Operation{
				op("get-balance", "Get balance", "GET", "/{cardId}/balance"),
				op("redeem-card", "Redeem card", "POST", "/{cardId}/redeem"),
			}})
		// Catalog is published through the open product instead of the starter one, and
		// Defender sees keyless calls; customer-profile left the open product.
		catalog.Defender = defender(3, 0, 3, 3, 0, "")
		profile.Defender = defender(3, 0, 0, 2, 1, "Confidential")
		// Warehouse masks its staff data now: Defender sees no sensitive data exposed.
		warehouse.Policy = maskingAPI
		warehouse.Defender = defender(3, 0, 0, 0, 0, "")
	}

	starter := &Product{Name: "starter", DisplayName: "Starter", State: "published", SubscriptionRequired: true, Policy: starterProduct,
		APIs: []string{"orders", "catalog", "search", "invoices", "currency", "echo-api", "marketing-content"}}
	unlimited := &Product{Name: "unlimited", DisplayName: "Unlimited", State: "published", SubscriptionRequired: true,
		APIs: []string{"payments", "customer-profile", "catalog", "warehouse", "old-reports", "loyalty", "returns", "shipping",
			"directory-lookup", "b2b-edi", "notifications", "recommendations", "echo-api"}}
	public := &Product{Name: "public-docs", DisplayName: "Public Docs", State: "published", SubscriptionRequired: false, Policy: publicDocsProduct,
		APIs: []string{"customer-profile"}}
	legacy := &Product{Name: "legacy-partners", DisplayName: "Legacy Partners", State: "notPublished", SubscriptionRequired: true,
		APIs: []string{"legacy-export"}}
	if next {
		starter.APIs = []string{"orders", "search", "invoices", "currency", "echo-api", "marketing-content", "gift-cards"}
		public.APIs = []string{"catalog"}
	}
	s.Products = []*Product{starter, unlimited, public, legacy}
	return s
}

// partnerService is the partner service: External VNet, a global validate-jwt, no
// Defender for APIs.
func partnerService() *Service {
	s := &Service{
		Subscription: SubPartner, ResourceGroup: "rg-partner", Name: PartnerService,
		SKU: "StandardV2", Network: "External", Global: partnerGlobal,
		Load: []float64{8.0, 12.5, 9.1, 10.0},
	}
	add := func(a *API) {
		a.Revision = "1"
		a.Protocols = []string{"https"}
		s.APIs = append(s.APIs, a)
	}
	add(&API{Name: "partner-catalog", DisplayName: "Partner Catalog", Path: "partner/catalog",
		Operations: []*Operation{
			op("list-items", "List items", "GET", "/items"),
			{Name: "get-item", DisplayName: "Get item", Method: "GET", URLTemplate: "/items/{itemId}", Policy: cachedOperation},
		}})
	add(&API{Name: "fulfilment", DisplayName: "Fulfilment", Path: "partner/fulfilment", Policy: keepBaseAPI,
		Operations: []*Operation{
			op("get-shipment", "Get shipment", "GET", "/shipments/{shipmentId}"),
			{Name: "post-callback", DisplayName: "Carrier callback", Method: "POST", URLTemplate: "/callbacks/{carrier}", Policy: callbackOperation},
		}})
	add(&API{Name: "claims", DisplayName: "Claims", Path: "partner/claims", SubscriptionRequired: true, Tags: []string{"pii"},
		Operations: []*Operation{
			op("submit-claim", "Submit claim", "POST", "/"),
			op("get-claim", "Get claim", "GET", "/{claimId}"),
		}})
	add(&API{Name: "telemetry-ingest", DisplayName: "Telemetry Ingest", Path: "partner/telemetry", SubscriptionRequired: true, Policy: telemetryAPI,
		Operations: []*Operation{op("ingest", "Ingest events", "POST", "/events")}})
	add(&API{Name: "webhooks", DisplayName: "Webhooks", Path: "partner/webhooks", Policy: webhooksAPI,
		Operations: []*Operation{op("receive", "Receive webhook", "POST", "/{source}")}})
	add(&API{Name: "dev-docs", DisplayName: "Developer Docs", Path: "partner/docs", SubscriptionRequired: true,
		Operations: []*Operation{op("get-page", "Get page", "GET", "/pages/{slug}")}})
	add(&API{Name: "sandbox", DisplayName: "Sandbox", Path: "partner/sandbox",
		Operations: []*Operation{op("ping", "Ping", "GET", "/ping")}})
	add(&API{Name: "status", DisplayName: "Status", Path: "partner/status", Policy: keepBaseAPI, Tags: []string{"internal-only"},
		Operations: []*Operation{op("get-status", "Get status", "GET", "/")}})
	add(&API{Name: "audit-log", DisplayName: "Audit Log", Path: "partner/audit", SubscriptionRequired: true,
		Operations: []*Operation{op("list-entries", "List entries", "GET", "/entries")}})
	add(&API{Name: "echo-api", DisplayName: "Echo API", Path: "echo", SubscriptionRequired: true,
		Operations: []*Operation{op("retrieve-resource", "Retrieve resource", "GET", "/resource")}})
	s.Products = []*Product{
		{Name: "partners", DisplayName: "Partners", State: "published", SubscriptionRequired: true, Policy: partnersProduct,
			APIs: []string{"partner-catalog", "fulfilment", "claims", "telemetry-ingest", "webhooks", "sandbox", "audit-log", "echo-api"}},
		{Name: "community", DisplayName: "Community", State: "published", SubscriptionRequired: false,
			APIs: []string{"dev-docs"}},
	}
	return s
}

// unauthenticatedOps names the operations Defender saw called without authentication
// where only some were.
var unauthenticatedOps = map[string][]string{"search": {"query"}}

// shopAssessments are the shop subscription's assessments: the two API assessments
// for every operation of every onboarded API (the non-current revision included, which
// the collector must drop), the optional onboarding one, and one on a virtual machine.
func shopAssessments(s *Service) []Assessment {
	var out []Assessment
	for _, a := range s.APIs {
		if a.Defender == nil {
			continue
		}
		for _, o := range a.Operations {
			id := s.ID() + "/apis/" + a.Name + "/operations/" + o.Name
			auth := "Healthy"
			switch {
			case a.Defender.Unauthenticated == a.Defender.Endpoints:
				auth = "Unhealthy"
			case a.Defender.Unauthenticated > 0:
				for _, n := range unauthenticatedOps[a.Name] {
					if n == o.Name {
						auth = "Unhealthy"
					}
				}
			}
			unused := "Healthy"
			if a.Defender.Inactive == a.Defender.Endpoints {
				unused = "Unhealthy"
			}
			out = append(out, Assessment{Key: triage.AssessmentAuthenticated, Resource: id, Status: auth},
				Assessment{Key: triage.AssessmentUnused, Resource: id, Status: unused})
		}
	}
	out = append(out,
		Assessment{Key: "1c0ba94f-e732-43c7-bf3a-05e80f45d642", Resource: s.ID(), Status: "Unhealthy"},
		Assessment{Key: "c3b6ae71-f1f0-31b4-e6c1-d5951285d03d", Resource: "/subscriptions/" + SubShop +
			"/resourceGroups/rg-shop-vms/providers/Microsoft.Compute/virtualMachines/build-agent-01", Status: "Unhealthy"},
		Assessment{Key: triage.AssessmentAuthenticated, Resource: "/subscriptions/" + SubShop +
			"/resourceGroups/rg-shop-vms/providers/Microsoft.Compute/virtualMachines/build-agent-01", Status: "NotApplicable"})
	return out
}

// seeAll fills apiguard's last-seen keys: the detectors key the request path with
// id-like segments replaced by {id}, so every {parameter} of a template appears as {id}.
func (w *World) seeAll(collected time.Time, next bool) {
	recent := collected.Add(-11*time.Hour - 23*time.Minute)
	idle := map[string]time.Time{
		"legacy-export": time.Date(2026, 8, 10, 14, 22, 0, 0, time.UTC),
		"loyalty":       time.Date(2026, 9, 20, 9, 15, 0, 0, time.UTC),
		"audit-log":     time.Date(2026, 10, 20, 11, 0, 0, 0, time.UTC),
	}
	never := map[string]bool{"old-reports": true, "sandbox": true}
	for _, s := range w.Services {
		for _, a := range s.APIs {
			if a.NotCurrent || never[a.Name] {
				continue
			}
			at, ok := idle[a.Name]
			if !ok {
				at = recent
			}
			for i, o := range a.Operations {
				t := at.Add(-time.Duration(i) * 7 * time.Minute)
				if a.Name == "orders" && o.Name == "cancel-order" {
					t = time.Date(2026, 10, 2, 8, 30, 0, 0, time.UTC) // one operation idle for weeks
				}
				w.Seen[a.Name+" "+o.Method+" "+requestTemplate(a.Path, o.URLTemplate)] = t
			}
		}
	}
	// Traffic to an API no service in scope has.
	w.Seen["ghost-api GET /ghost/{id}"] = recent
	if next {
		// The removed API's last calls, still in the detector state.
		w.Seen["store-locator GET /stores"] = time.Date(2026, 12, 9, 17, 40, 0, 0, time.UTC)
	}
}

// requestTemplate is how the detectors key a request to the template: the API path and
// the template, query left out, each {parameter} as {id}.
func requestTemplate(apiPath, tmpl string) string {
	if q := strings.IndexByte(tmpl, '?'); q >= 0 {
		tmpl = tmpl[:q]
	}
	var out []string
	for _, seg := range strings.Split(strings.Trim(apiPath+"/"+tmpl, "/"), "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, "{") {
			seg = "{id}"
		}
		out = append(out, seg)
	}
	return "/" + strings.Join(out, "/")
}
