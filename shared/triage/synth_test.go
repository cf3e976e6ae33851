package triage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// synthetic builds an inventory of apis APIs of ops operations each, spread over services
// of up to 1,000 APIs, for the benchmark and the determinism test. Every API takes the
// configuration of one authentication case in turn (its subscription setting, API and
// operation policies, Defender's view), so every case is in the mix; on top, services
// differ in network mode, global policy and capacity, products are open or keyed,
// published or not, and hold a few APIs each, and traffic, tags and assessments vary.
// Policies are padded to realistic sizes: about 3 KB global, 1 KB product, 2 KB API and
// 700 bytes operation.
func synthetic(apis, ops int, seed uint64) Inventory {
	rng := rand.New(rand.NewPCG(seed, 0x7269616765))
	pad := padder{}.pad
	inv := Inventory{Collected: collected, WatchingSince: collected.Add(-200 * day)}
	networks := []string{"None", "External", "Internal", ""}
	globals := []string{polBase, polJWT, polCert, polNoBase, unread}
	templates := []string{"/orders/{orderId}", "/orders", "/users/{user_id}/addresses", "/search?q={query}", "/items/{*path}", "/accounts/{accountNumber}"}
	nsvc := max(1, (apis+999)/1000)
	for s := range nsvc {
		svc := Service{
			ID:            fmt.Sprintf("/subscriptions/sub-%d/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-%d", s%3, s),
			Name:          fmt.Sprintf("apim-%d", s),
			Subscription:  fmt.Sprintf("sub-%d", s%3),
			ResourceGroup: "rg",
			SKU:           "Premium",
			Network:       networks[s%len(networks)],
			Defender:      DefenderState{Collections: true, Assessments: true, PlanOff: s%5 == 4},
			Global:        pad(globals[s%len(globals)], 3000),
		}
		if s%3 != 2 {
			c := float64(20 + 25*(s%3))
			svc.Capacity = &c
		}
		for p := range 10 {
			svc.Products = append(svc.Products, Product{
				Name:                 fmt.Sprintf("product-%d", p),
				State:                []string{"published", "published", "notPublished"}[p%3],
				SubscriptionRequired: p%4 != 3,
				Policy:               pad([]string{polBase, polRateLimit, polNoBase, polJWT, ""}[p%5], 1000),
			})
		}
		svc.APIs = make([]API, 0, min(1000, apis-s*1000))
		for i := s * 1000; i < min(apis, (s+1)*1000); i++ {
			c := authCases[i%len(authCases)]
			name := fmt.Sprintf("api-%05d", i)
			api := API{
				ID:                   svc.ID + "/apis/" + name,
				Name:                 name,
				DisplayName:          "API " + name,
				Path:                 name,
				Protocols:            []string{"https"},
				IsCurrent:            true,
				IsOnline:             true,
				SubscriptionRequired: c.apiSub,
				Policy:               pad(c.api, 2000),
			}
			if c.defender != nil {
				d := *c.defender
				api.Defender = &d
			} else if rng.IntN(3) > 0 {
				n := ops
				api.Defender = &Collection{
					ProvisioningState: []string{"Succeeded", "Succeeded", "Succeeded", "InProgress", "Failed"}[rng.IntN(5)],
					Endpoints:         n,
					Inactive:          []int{0, n / 2, n}[rng.IntN(3)],
					External:          rng.IntN(2) * rng.IntN(n+1),
					SensitiveData:     rng.IntN(4) / 3 * rng.IntN(n+1),
					Unauthenticated:   rng.IntN(3) / 2 * rng.IntN(n+1),
				}
			}
			if rng.IntN(4) == 0 {
				api.Tags = []string{"pii"}
			}
			if d := rng.IntN(300); d < 250 {
				api.LastSeen = collected.Add(-time.Duration(d) * day)
			}
			for p := range 1 + rng.IntN(3) {
				k := rng.IntN(len(svc.Products))
				if p == 0 && len(c.products) > 0 {
					k = 4 * rng.IntN(3) // a product shaped like the case's: 0, 4, 8 keyed; 3, 7 open
				}
				svc.Products[k].APIs = append(svc.Products[k].APIs, name)
			}
			api.Operations = make([]Operation, ops)
			for o := range ops {
				op := Operation{
					Name:        fmt.Sprintf("op-%02d", o),
					Method:      []string{"GET", "POST", "PUT", "DELETE"}[o%4],
					URLTemplate: templates[(i+o)%len(templates)],
					Policy:      pad(c.ops[o%2], 700),
				}
				if rng.IntN(4) == 0 {
					op.LastSeen = collected.Add(-time.Duration(rng.IntN(120)) * day)
				}
				if api.Defender != nil && o%2 == 0 {
					status := []string{"Healthy", "Unhealthy", "NotApplicable"}[rng.IntN(3)]
					api.Assessments = append(api.Assessments,
						Assessment{Key: AssessmentUnused, Operation: api.ID + "/operations/" + op.Name, Status: status},
						Assessment{Key: AssessmentAuthenticated, Operation: api.ID + "/operations/" + op.Name, Status: status})
				}
				api.Operations[o] = op
			}
			svc.APIs = append(svc.APIs, api)
		}
		inv.Services = append(inv.Services, svc)
	}
	return inv
}

// padBlock is what real inbound sections are full of: headers set from expressions,
// comments, named values.
const padBlock = `
        <!-- correlation for the backend; keep before <base /> moves -->
        <set-header name="X-Correlation-Id" exists-action="skip">
            <value>@(context.Request.Headers.GetValueOrDefault("traceparent", "") != "" ? context.Request.Headers.GetValueOrDefault("traceparent","") : context.RequestId.ToString())</value>
        </set-header>
        <set-variable name="tenant" value="@(context.Request.Url.Query.GetValueOrDefault("tenant", "{{default-tenant}}"))" />`

// padder pads policies, each document and size once.
type padder map[string]Policy

// pad returns the policy xml (absent, unread or a document) grown to about size bytes
// with padBlock inside <inbound>.
func (padded padder) pad(xml string, size int) Policy {
	p := pol(xml)
	if !p.Found || !strings.Contains(xml, "<inbound>") {
		return p
	}
	key := fmt.Sprint(size, xml)
	if q, ok := padded[key]; ok {
		return q
	}
	var b strings.Builder
	for b.Len()+len(xml) < size {
		b.WriteString(padBlock)
	}
	p.XML = strings.Replace(xml, "<inbound>", "<inbound>"+b.String(), 1)
	padded[key] = p
	return p
}
