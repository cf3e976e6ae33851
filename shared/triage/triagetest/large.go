package triagetest

import (
	"fmt"
	"strings"
	"time"
)

// Large is a synthetic estate of one public service with apis APIs of ops operations
// each, a policy at every scope and Defender for APIs on, paged as ARM pages (100 a
// page): for measuring the collector's ARM calls and the triage's speed at scale.
func Large(apis, ops int) *World {
	w := &World{
		Name: "large", Collected: Month1, WatchingSince: WatchingSince, Scopes: []string{ShopID},
		SensitiveTags: SensitiveTags, Assessments: map[string][]Assessment{}, Seen: map[string]time.Time{},
		Faults: map[string]Fault{}, PageSize: 100,
	}
	s := &Service{Subscription: SubShop, ResourceGroup: "rg-shop-prod", Name: ShopService, SKU: "Premium", Network: "None",
		Global: "<policies>\n\t<inbound>\n\t\t<cors allow-credentials=\"false\"><allowed-origins><origin>*</origin></allowed-origins></cors>\n" +
			"\t</inbound>\n\t<backend><forward-request /></backend>\n\t<outbound />\n\t<on-error />\n</policies>", Load: []float64{31, 42}}
	open := &Product{Name: "starter", State: "published", SubscriptionRequired: true,
		Policy: "<policies><inbound><base /><rate-limit calls=\"5\" renewal-period=\"60\" /></inbound><backend><base /></backend><outbound><base /></outbound></policies>"}
	s.Products = []*Product{open}
	for i := range apis {
		name := fmt.Sprintf("api-%05d", i)
		a := &API{Name: name, DisplayName: "API " + name, Path: name, Revision: "1", SubscriptionRequired: i%3 != 0,
			Protocols: []string{"https"}, Tags: []string{[]string{"pii", "internal", "payments"}[i%3]},
			Policy: "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<set-backend-service base-url=\"{{" + name + "-backend}}\" />\n" +
				`		<set-header name="x-trace" exists-action="override"><value>@(context.RequestId.ToString())</value></set-header>` +
				"\n\t</inbound>\n\t<backend><base /></backend>\n\t<outbound><base /></outbound>\n\t<on-error><base /></on-error>\n</policies>"}
		if i%2 == 0 {
			a.Defender = defender(ops, i%5, i%4, i%3, i%7%2, "")
		}
		for j := range ops {
			o := op(fmt.Sprintf("op-%02d", j), fmt.Sprintf("Operation %d", j), []string{"GET", "POST", "PUT", "DELETE"}[j%4],
				fmt.Sprintf("/items/{id}/part-%d", j))
			if j%5 == 0 {
				o.Policy = "<policies><inbound><base /><validate-jwt header-name=\"Authorization\"><openid-config url=\"{{oidc}}\" /></validate-jwt></inbound>" +
					"<backend><base /></backend><outbound><base /></outbound></policies>"
			}
			a.Operations = append(a.Operations, o)
			w.Seen[strings.Join([]string{name, o.Method, requestTemplate(a.Path, o.URLTemplate)}, " ")] = Month1.Add(-time.Duration(i%200) * 24 * time.Hour)
		}
		s.APIs = append(s.APIs, a)
		if i%10 == 0 {
			open.APIs = append(open.APIs, name)
		}
	}
	w.Services = []*Service{s}
	return w
}
