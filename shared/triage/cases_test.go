package triage

import (
	"fmt"
	"time"
)

// The cases here feed the tests, the fuzz seeds and the benchmark's synthetic inventory.

var collected = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// Policies, written the way real ones are: C# in attributes and text, {{named values}},
// comments, nothing a strict XML parser would take.
const (
	polBase = `<policies>
    <inbound>
        <base />
        <set-header name="X-Request-Id" exists-action="skip">
            <value>@(context.RequestId.ToString())</value>
        </set-header>
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polNoBase = `<policies>
    <inbound>
        <set-backend-service base-url="{{orders-backend}}" />
        <rewrite-uri template="@("/v2" + context.Request.OriginalUrl.Path)" />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polJWT = `<policies>
    <inbound>
        <base />
        <validate-jwt header-name="Authorization" failed-validation-httpcode="401" require-scheme="Bearer">
            <openid-config url="https://login.microsoftonline.com/{{tenant}}/v2.0/.well-known/openid-configuration" />
            <audiences><audience>@(context.Api.Id == "orders" ? "api://orders" : "api://other")</audience></audiences>
        </validate-jwt>
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polJWTNoBase = `<policies>
    <inbound>
        <validate-jwt header-name="Authorization">
            <openid-config url="https://login.microsoftonline.com/{{tenant}}/v2.0/.well-known/openid-configuration" />
        </validate-jwt>
    </inbound>
    <backend><forward-request /></backend>
    <outbound />
    <on-error />
</policies>`

	polAAD = `<policies>
    <inbound>
        <base />
        <validate-azure-ad-token tenant-id="{{tenant}}">
            <client-application-ids><application-id>{{client-app}}</application-id></client-application-ids>
        </validate-azure-ad-token>
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polCert = `<policies>
    <inbound>
        <validate-client-certificate validate-revocation="true" validate-trust="true" validate-not-before="true" validate-not-after="true">
            <identities><identity thumbprint="{{partner-thumbprint}}" /></identities>
        </validate-client-certificate>
        <base />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polChooseJWT = `<policies>
    <inbound>
        <base />
        <choose>
            <when condition="@(context.Request.Headers.GetValueOrDefault("X-Partner","") != "" && context.Request.Method != "GET")">
                <validate-jwt header-name="Authorization">
                    <openid-config url="https://login.microsoftonline.com/{{tenant}}/v2.0/.well-known/openid-configuration" />
                </validate-jwt>
            </when>
        </choose>
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polOutboundJWT = `<policies>
    <inbound><base /></inbound>
    <backend><base /></backend>
    <outbound>
        <base />
        <validate-jwt header-name="Authorization" />
    </outbound>
    <on-error><base /></on-error>
</policies>`

	polFragment = `<policies>
    <inbound>
        <base />
        <include-fragment fragment-id="corp-auth" />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polOwnFragment = `<policies>
    <inbound>
        <base />
        <include-fragment fragment-id="apiguard" />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	polRateLimit = `<policies>
    <inbound>
        <base />
        <rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Request.IpAddress)" />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>`

	// polGarbage is no policy the scanner can read: an unterminated comment.
	polGarbage = `<policies><inbound><base /><!-- <validate-jwt /> </inbound></policies>`
)

const unread = "\x00unread" // a policy the collector could not read

func pol(xml string) Policy {
	switch xml {
	case "":
		return Policy{}
	case unread:
		return Policy{Unread: true}
	}
	return Policy{Found: true, XML: xml}
}

// authCase is one authentication case: a service with one API of two operations.
type authCase struct {
	name       string
	global     string
	products   []Product // each holds the API
	apiSub     bool
	api        string
	ops        [2]string // the operations' policies
	defender   *Collection
	own        []string // Options.OwnFragments
	want       string   // true, false or unknown
	source     string   // in the signal's source
	gapWanted  bool     // a gap for an unreadable policy
	overriding []string // operations that drop a broader validation
}

func product(name string, subscription, published bool, policy string) Product {
	state := "notPublished"
	if published {
		state = "published"
	}
	return Product{Name: name, State: state, SubscriptionRequired: subscription, Policy: pol(policy)}
}

var authCases = []authCase{
	{name: "key on API", apiSub: true, products: []Product{product("gold", true, true, "")},
		want: "true", source: "the gateway requires a subscription key"},
	{name: "key on API, policies unread", apiSub: true, global: unread, api: unread,
		want: "true", source: "requires a subscription key"},
	{name: "API false, product true", apiSub: false, products: []Product{product("gold", true, true, "")},
		want: "false", source: "API subscriptionRequired is false"},
	{name: "open product", apiSub: true, products: []Product{product("gold", true, true, ""), product("starter", false, true, "")},
		want: "false", source: "open product starter (published, no subscription required) takes calls without a key"},
	{name: "open product not published", apiSub: true, products: []Product{product("draft", false, false, "")},
		want: "true", source: "requires a subscription key"},
	{name: "validate-jwt at global", global: polJWT,
		want: "true", source: "validate-jwt in the global policy reaches every operation"},
	{name: "validate-jwt at API", global: polBase, api: polJWT,
		want: "true", source: "validate-jwt in the API policy reaches every operation"},
	{name: "validate-jwt at operation", api: polBase, ops: [2]string{polJWT, polJWTNoBase},
		want: "true", source: "validate-jwt in the policy of operation op1 and validate-jwt in the policy of operation op2 reach every operation"},
	{name: "validate-jwt on one operation only", ops: [2]string{polJWT, ""},
		want: "false", source: "no validate-jwt, validate-azure-ad-token or validate-client-certificate reaches operation op2 when called without a product"},
	{name: "operation override without base", global: polJWT, api: polBase, ops: [2]string{polBase, polNoBase},
		want: "false", source: "the policy of operation op2 has no <base />, so the validate-jwt of the global policy does not reach operation op2 when called without a product", overriding: []string{"op2"}},
	{name: "API policy without base drops global", global: polJWT, api: polNoBase,
		want: "false", source: "the API policy has no <base />, so the validate-jwt of the global policy does not reach operation op1 when called without a product (2 of 2 operation paths lack a validation)"},
	{name: "choose", api: polChooseJWT,
		want: "false", source: "validate-jwt inside <choose> in the API policy applies only to some requests, so it does not count"},
	{name: "validate-azure-ad-token", api: polAAD,
		want: "true", source: "validate-azure-ad-token in the API policy"},
	{name: "validate-client-certificate", global: polCert,
		want: "true", source: "validate-client-certificate in the global policy"},
	{name: "validation in outbound", api: polOutboundJWT,
		want: "false", source: "no validate-jwt"},
	{name: "unread API policy", global: polBase, api: unread,
		want: "unknown", source: "the API policy could not be read, so whether a validation reaches operation op1 when called without a product is unknown: taken as unauthenticated (cautious)"},
	{name: "unread global behind base", global: unread, api: polBase,
		want: "unknown", source: "the global policy could not be read"},
	{name: "unread global, validation at API", global: unread, api: polJWT,
		want: "true", source: "validate-jwt in the API policy"},
	{name: "unread global dropped by API", global: unread, api: polNoBase,
		want: "false", source: "no validate-jwt"},
	{name: "garbage API policy", api: polGarbage, gapWanted: true,
		want: "unknown", source: "the API policy is not readable"},
	{name: "unread, Defender saw unauthenticated traffic", api: unread,
		defender: &Collection{Endpoints: 2, Unauthenticated: 1, External: 2},
		want:     "false", source: "could not be read, so whether a validation reaches operation op1 when called without a product is unknown from the policies; Defender saw unauthenticated traffic on 1 of 2 endpoints in 30 days: not authenticated"},
	{name: "open product validates", apiSub: true, products: []Product{product("partners", false, true, polJWT)},
		want: "true", source: "validate-jwt in the policy of product partners reaches every operation"},
	{name: "open product without base drops global", apiSub: true, global: polJWT, products: []Product{product("free", false, true, polNoBase)},
		want: "false", source: "the policy of product free has no <base />, so the validate-jwt of the global policy does not reach"},
	{name: "keyed product policy only", apiSub: false, products: []Product{product("gold", true, true, polJWT)},
		want: "false", source: "no validate-jwt"},
	{name: "keyless API in open product", apiSub: false, products: []Product{product("partners", false, true, polJWT)},
		want: "false", source: "reaches operation op1 when called without a product (2 of 4 operation paths lack a validation)"},
	{name: "foreign fragment", api: polFragment,
		want: "unknown", source: "the API policy includes fragment corp-auth, which the inventory does not hold"},
	{name: "own fragment", api: polOwnFragment, own: []string{"ApiGuard"},
		want: "false", source: "no validate-jwt"},
	{name: "Defender disagrees with a required key", apiSub: true,
		defender: &Collection{Endpoints: 2, Unauthenticated: 2, External: 2},
		want:     "true", source: "requires a subscription key (API subscriptionRequired is true and no open product holds it); Defender saw unauthenticated traffic on 2 of 2 endpoints in 30 days: a change"},
}

// inventory builds an inventory of one service holding the case's API.
func (c authCase) inventory() Inventory {
	ops := make([]Operation, 2)
	for i := range ops {
		ops[i] = Operation{Name: fmt.Sprintf("op%d", i+1), Method: "GET", URLTemplate: fmt.Sprintf("/op%d", i+1), Policy: pol(c.ops[i])}
	}
	api := API{
		ID:                   "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/apis/orders",
		Name:                 "orders",
		Path:                 "orders",
		IsCurrent:            true,
		SubscriptionRequired: c.apiSub,
		Policy:               pol(c.api),
		Operations:           ops,
		Defender:             c.defender,
	}
	products := make([]Product, len(c.products))
	for i, p := range c.products {
		p.APIs = []string{"orders"}
		products[i] = p
	}
	return Inventory{
		Collected: collected,
		Services: []Service{{
			ID:       "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim",
			Name:     "apim",
			Network:  "None",
			Global:   pol(c.global),
			Products: products,
			APIs:     []API{api},
		}},
	}
}
