package triage

import (
	"fmt"
	"strings"
	"unicode"
)

// recommend proposes the remediations for one ranked API. None is ever applied by the
// triage: Enforceable ones become pending decisions an operator approves, the rest are
// advice.
//
//   - Decommission: deprecate, or revoke product visibility (advice; never delete).
//   - External and not authenticated (or unknown): require a subscription key, and
//     validate a token with validate-jwt (advice: both change what callers must send).
//   - External: a rate-limit-by-key baseline on enumeration-prone operations
//     (Enforceable, through apiguard's fragment), unless a rate limit already reaches
//     them. Enumeration-prone: an operation whose URL template has a parameter named as
//     an identifier ({id}, {orderId}, {user_id}, {accountNumber}, {uuid}, {key}, {code},
//     {slug}, see idLike): guessable values invite walking them. The inventory holds no
//     per-operation volume, so spiking operations are not judged here; spikes are the
//     alerts' business.
//   - Not onboarded to Defender for APIs (where that is known): onboard, with its batch
//     of the plan (Enforceable unless the plan is off).
func (c *classifier) recommend(it *item) {
	api := it.ac.api
	if it.Priority == Decommission {
		it.Recommendations = append(it.Recommendations, deprecate(api, it.sc.holdersOf(api)))
		return
	}
	if it.ext && !it.auth.sig.Value {
		it.Recommendations = append(it.Recommendations,
			requireSubscription(api, it.sc, it.auth.access),
			validateJWT(api, it.auth.overriding))
	}
	if it.ext {
		if r, ok := c.rateLimit(it); ok {
			it.Recommendations = append(it.Recommendations, r)
		}
	}
	if it.sc.svc.Defender.Collections && !it.Onboarded {
		it.Recommendations = append(it.Recommendations, c.onboard(it))
	}
}

func requireSubscription(api *API, sc *serviceCtx, a access) Recommendation {
	var do []string
	if a.apiOpen {
		do = append(do, fmt.Sprintf("set subscriptionRequired to true on API %s", api.Name))
	}
	if len(a.open) > 0 {
		do = append(do, fmt.Sprintf("remove it from the open %s %s (or make %s require a subscription)",
			plural(len(a.open), "product", "products"), sc.productNames(a.open), plural(len(a.open), "it", "them")))
	}
	if len(do) == 0 {
		do = append(do, "check that the gateway requires a key for every call")
	}
	return Recommendation{
		Kind: RecommendRequireSubscription,
		Text: "Require a subscription key: " + strings.Join(do, ", and ") +
			". Callers then need a key from a product; tell them before the change.",
	}
}

// jwtSnippet is the validate-jwt to add. Tenant and audience are APIM named values
// ({{...}}): the policy does not save until they exist, so nothing runs half-configured.
const jwtSnippet = `<validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized" require-scheme="Bearer">
    <openid-config url="https://login.microsoftonline.com/{{tenant-id}}/v2.0/.well-known/openid-configuration" />
    <audiences>
        <audience>{{api-audience}}</audience>
    </audiences>
    <issuers>
        <issuer>https://login.microsoftonline.com/{{tenant-id}}/v2.0</issuer>
    </issuers>
</validate-jwt>`

func validateJWT(api *API, overriding []string) Recommendation {
	text := fmt.Sprintf("Validate a token on every call: add this validate-jwt to the <inbound> of the policy of API %s, right after <base />, "+
		"after creating the named values tenant-id (your Entra ID tenant) and api-audience (the API's application ID URI).", api.Name)
	if len(overriding) > 0 {
		text += fmt.Sprintf(" %s %s %s no <base /> and would not run it: add it there too, or restore <base />.",
			plural(len(overriding), "Operation", "Operations"), strings.Join(overriding, ", "), plural(len(overriding), "has", "have"))
	}
	return Recommendation{Kind: RecommendValidateJWT, Text: text, Snippet: jwtSnippet}
}

// rateLimit proposes the baseline for the enumeration-prone operations of an external
// API that no rate limit reaches yet (through the global, API and operation policies).
func (c *classifier) rateLimit(it *item) (Recommendation, bool) {
	api := it.ac.api
	var ops, params []string
	var ac = it.ac
	for i := range api.Operations {
		op := &api.Operations[i]
		p := idParam(op.URLTemplate)
		if p == "" {
			continue
		}
		chain := []*scope{ac.opScopes(c, it.sc)[i], ac.apiScope(c, it.sc), it.sc.globalScope(c)}
		if walk(chain, hasRateLimit).v == yes {
			continue
		}
		ops = append(ops, op.Name)
		params = append(params, op.Name+" {"+p+"}")
	}
	if len(ops) == 0 {
		return Recommendation{}, false
	}
	o := c.opts
	return Recommendation{
		Kind: RecommendRateLimit,
		Text: fmt.Sprintf("Throttle enumeration: the %s %s %s an identifier in the URL that can be walked; limit each caller "+
			"(subscription, else client address) to %d calls per %d s on %s.",
			plural(len(ops), "operation", "operations"), strings.Join(params, ", "), plural(len(ops), "takes", "take"),
			o.ThrottleCalls, o.ThrottlePeriod, plural(len(ops), "it", "each")),
		Snippet: fmt.Sprintf(`<rate-limit-by-key calls="%d" renewal-period="%d" counter-key="@(context.Subscription?.Id ?? context.Request.IpAddress)" />`,
			o.ThrottleCalls, o.ThrottlePeriod),
		Enforceable: true,
		Operations:  ops,
	}, true
}

// idParam returns the first parameter of an URL template ("/orders/{orderId}",
// "/find?code={code}") named as an identifier, "" if none.
func idParam(template string) string {
	for rest := template; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return ""
		}
		name := rest[i+1 : i+j]
		if idLike(strings.TrimPrefix(name, "*")) {
			return name
		}
		rest = rest[i+j+1:]
	}
}

// idWords are the last words of a parameter name that make it an identifier.
var idWords = []string{"id", "ids", "uuid", "guid", "key", "number", "num", "no", "code", "slug"}

// idLike reports whether a parameter name is an identifier: its last word (split at
// '_', '-', '.' and lower-to-upper case changes: userId, user_id, UserID) is one of
// idWords.
func idLike(name string) bool {
	last := 0
	rs := []rune(name)
	for k := 1; k < len(rs); k++ {
		switch {
		case rs[k] == '_' || rs[k] == '-' || rs[k] == '.':
			if k+1 < len(rs) {
				last = k + 1
			}
		case unicode.IsUpper(rs[k]) && unicode.IsLower(rs[k-1]):
			last = k
		}
	}
	w := strings.ToLower(strings.Trim(string(rs[last:]), "_-."))
	for _, id := range idWords {
		if w == id {
			return true
		}
	}
	return false
}

func deprecate(api *API, products []*Product) Recommendation {
	text := fmt.Sprintf("Retire API %s: mark it deprecated (announce a retirement date to its callers) and revoke its visibility", api.Name)
	if len(products) > 0 {
		names := make([]string, len(products))
		for i, p := range products {
			names[i] = p.Name
		}
		text += fmt.Sprintf(" by removing it from %s %s", plural(len(products), "product", "products"), strings.Join(names, ", "))
	} else {
		text += " (it is in no product)"
	}
	text += ". Advice only: apiguard never deletes an API; delete it yourself once nobody calls it."
	return Recommendation{Kind: RecommendDeprecate, Text: text}
}

func (c *classifier) onboard(it *item) Recommendation {
	svc := it.sc.svc
	text := fmt.Sprintf("Onboard API %s to Defender for APIs", it.Name)
	if it.batch > 0 {
		text += fmt.Sprintf(": batch %d of %d for service %s, heaviest traffic last", it.batch, it.batches, svc.Name)
	}
	text += fmt.Sprintf("; onboarding waits while the gateway's capacity is at or above %.0f%%.", c.opts.MaxCapacity)
	r := Recommendation{Kind: RecommendOnboard, Text: text, Enforceable: true}
	if svc.Defender.PlanOff {
		r.Enforceable = false
		r.Text += fmt.Sprintf(" Defender for APIs is not enabled on subscription %s: enable the plan first.", svc.Subscription)
	}
	return r
}
