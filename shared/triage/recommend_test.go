package triage

import (
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func recommendation(r Ranked, kind string) (Recommendation, bool) {
	for _, rec := range r.Recommendations {
		if rec.Kind == kind {
			return rec, true
		}
	}
	return Recommendation{}, false
}

func kinds(r Ranked) []string {
	var k []string
	for _, rec := range r.Recommendations {
		k = append(k, rec.Kind)
	}
	return k
}

// wellFormed checks that snippet is one well-formed XML element named root: what APIM
// takes as a policy statement.
func wellFormed(t *testing.T, snippet, root string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(snippet))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("snippet is not well-formed XML: %v\n%s", err, snippet)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != root {
					t.Errorf("snippet root <%s>, want <%s>", tok.Name.Local, root)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		t.Errorf("snippet has %d root elements", roots)
	}
	// And the triage's own reader sees it where the text says to put it.
	var r policyReader
	s, err := r.read(pol("<policies><inbound><base />"+snippet+"</inbound></policies>"), "x")
	if err != nil || s.state != readable {
		t.Errorf("the snippet in an inbound section does not read: %v %+v", err, s)
	}
}

func TestRecommendUnauthenticated(t *testing.T) {
	inv := one(func(_ *Inventory, svc *Service, api *API) {
		api.SubscriptionRequired = false
		svc.Products = []Product{product("starter", false, true, ""), product("gold", true, true, "")}
		svc.Products[0].APIs = []string{"orders"}
		api.Products = []string{"gold"}
		api.Operations[1].Policy = pol(polNoBase)
		svc.Global = pol(polJWT)
	})
	r := classifyOne(t, inv, Options{})
	if r.Priority != P0 {
		t.Fatalf("%s, want P0", r.Priority)
	}
	req, ok := recommendation(r, RecommendRequireSubscription)
	if !ok || req.Enforceable ||
		!strings.Contains(req.Text, "set subscriptionRequired to true on API orders") ||
		!strings.Contains(req.Text, "remove it from the open product starter") {
		t.Errorf("require-subscription: %+v", req)
	}
	jwt, ok := recommendation(r, RecommendValidateJWT)
	if !ok || jwt.Enforceable || jwt.Snippet == "" {
		t.Fatalf("validate-jwt: %+v", jwt)
	}
	wellFormed(t, jwt.Snippet, "validate-jwt")
	for _, want := range []string{"{{tenant-id}}", "{{api-audience}}", `header-name="Authorization"`, "<openid-config url="} {
		if !strings.Contains(jwt.Snippet, want) {
			t.Errorf("snippet lacks %s", want)
		}
	}
	for _, want := range []string{"tenant-id", "api-audience", "right after <base />", "Operation op2 has no <base />"} {
		if !strings.Contains(jwt.Text, want) {
			t.Errorf("validate-jwt text lacks %q: %s", want, jwt.Text)
		}
	}
}

func TestRecommendRateLimit(t *testing.T) {
	templates := []string{"/orders/{orderId}", "/orders", "/users/{user_id}/addresses", "/search?q={query}", "/lookup?code={code}", "/files/{*path}"}
	build := func(edit func(api *API)) Inventory {
		return one(func(_ *Inventory, _ *Service, api *API) {
			api.Operations = nil
			for i, tpl := range templates {
				api.Operations = append(api.Operations, Operation{Name: "op" + string(rune('a'+i)), URLTemplate: tpl})
			}
			if edit != nil {
				edit(api)
			}
		})
	}
	r := classifyOne(t, build(nil), Options{ThrottleCalls: 20, ThrottlePeriod: 600})
	rl, ok := recommendation(r, RecommendRateLimit)
	if !ok || !rl.Enforceable || !slices.Equal(rl.Operations, []string{"opa", "opc", "ope"}) {
		t.Fatalf("rate-limit %+v, want enforceable for opa, opc, ope", rl)
	}
	wellFormed(t, rl.Snippet, "rate-limit-by-key")
	if !strings.Contains(rl.Snippet, `calls="20" renewal-period="300"`) || !strings.Contains(rl.Text, "20 calls per 300 s") {
		t.Errorf("baseline not from the options (period capped at 300): %s / %s", rl.Snippet, rl.Text)
	}
	if !strings.Contains(rl.Text, "opa {orderId}, opc {user_id}, ope {code}") {
		t.Errorf("text does not name the operations and parameters: %s", rl.Text)
	}

	// A rate limit that already reaches an operation (its own, or the API's) is enough.
	r = classifyOne(t, build(func(api *API) { api.Operations[0].Policy = pol(polRateLimit) }), Options{})
	if rl, _ := recommendation(r, RecommendRateLimit); !slices.Equal(rl.Operations, []string{"opc", "ope"}) {
		t.Errorf("operation rate-limited already: %v", rl.Operations)
	}
	r = classifyOne(t, build(func(api *API) { api.Policy = pol(polRateLimit) }), Options{})
	if _, ok := recommendation(r, RecommendRateLimit); ok {
		t.Errorf("API rate-limited already, still recommended")
	}
	// Internal APIs are not enumerated from the internet.
	r = classifyOne(t, build(func(api *API) { api.Defender = &Collection{Endpoints: 6} }), Options{})
	if _, ok := recommendation(r, RecommendRateLimit); ok || r.Priority != P3 {
		t.Errorf("internal API: %s %v", r.Priority, kinds(r))
	}
}

func TestIDLike(t *testing.T) {
	for name, want := range map[string]bool{
		"id": true, "ID": true, "orderId": true, "UserID": true, "user_id": true, "user-id": true, "accountNumber": true,
		"uuid": true, "key": true, "code": true, "slug": true, "ids": true, "*id": true, "id_": true,
		"valid": false, "paid": false, "query": false, "path": false, "name": false, "": false, "identity": false,
	} {
		if got := idLike(strings.TrimPrefix(name, "*")); got != want {
			t.Errorf("idLike(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRecommendDeprecate(t *testing.T) {
	inv := inventoryOf(spec{name: "attic", idl: true})
	inv.Services[0].Products = []Product{product("gold", true, true, ""), product("legacy", true, false, "")}
	inv.Services[0].Products[1].APIs = []string{"attic"}
	inv.Services[0].APIs[0].Products = []string{"gold"}
	r := classifyOne(t, inv, Options{})
	if r.Priority != Decommission || !slices.Equal(kinds(r), []string{RecommendDeprecate}) {
		t.Fatalf("%s %v, want Decommission with deprecate only", r.Priority, kinds(r))
	}
	d := r.Recommendations[0]
	if d.Enforceable || !strings.Contains(d.Text, "products gold, legacy") || !strings.Contains(d.Text, "never deletes") {
		t.Errorf("deprecate: %+v", d)
	}
}

func TestRecommendOnboard(t *testing.T) {
	build := func(edit func(svc *Service)) Ranked {
		return classifyOne(t, one(func(_ *Inventory, svc *Service, _ *API) {
			svc.Defender.Collections = true
			if edit != nil {
				edit(svc)
			}
		}), Options{})
	}
	r := build(nil)
	on, ok := recommendation(r, RecommendOnboard)
	if !ok || !on.Enforceable || r.Onboarded || !strings.Contains(on.Text, "batch 1 of 1 for service apim") {
		t.Errorf("onboard: %+v", on)
	}
	if on, _ := recommendation(build(func(svc *Service) { svc.Defender.PlanOff = true }), RecommendOnboard); on.Enforceable || !strings.Contains(on.Text, "enable the plan first") {
		t.Errorf("plan off: %+v", on)
	}
	if _, ok := recommendation(build(func(svc *Service) { svc.Defender.Collections = false }), RecommendOnboard); ok {
		t.Errorf("collections unread: whether the API is onboarded is unknown, yet onboarding is recommended")
	}
	r = build(func(svc *Service) { svc.APIs[0].Defender = &Collection{ProvisioningState: "Failed"} })
	if _, ok := recommendation(r, RecommendOnboard); !ok || r.Onboarded {
		t.Errorf("failed onboarding: onboarded %v, %v", r.Onboarded, kinds(r))
	}
}
