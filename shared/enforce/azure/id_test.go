package azure

import (
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

func TestParseResourceID(t *testing.T) {
	const sub = "00000000-0000-0000-0000-000000000001"
	cases := []struct {
		name, in string
		want     ResourceID
		errHas   string // "" means valid
	}{
		{name: "appgw", in: "/subscriptions/" + sub + "/resourceGroups/rg-edge/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/wafEdge",
			want: ResourceID{Subscription: sub, ResourceGroup: "rg-edge", Name: "wafEdge", Kind: KindAppGW}},
		{name: "frontdoor", in: "/subscriptions/" + sub + "/resourceGroups/rg-edge/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/wafGlobal",
			want: ResourceID{Subscription: sub, ResourceGroup: "rg-edge", Name: "wafGlobal", Kind: KindFrontDoor}},
		{name: "lower case everything", in: "/subscriptions/" + sub + "/resourcegroups/RG/providers/microsoft.network/frontdoorwebapplicationfirewallpolicies/p1",
			want: ResourceID{Subscription: sub, ResourceGroup: "RG", Name: "p1", Kind: KindFrontDoor}},
		{name: "upper case type", in: "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.NETWORK/APPLICATIONGATEWAYWEBAPPLICATIONFIREWALLPOLICIES/p1",
			want: ResourceID{Subscription: sub, ResourceGroup: "rg", Name: "p1", Kind: KindAppGW}},
		{name: "trailing slash and space", in: " /subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1/ ",
			want: ResourceID{Subscription: sub, ResourceGroup: "rg", Name: "p1", Kind: KindFrontDoor}},

		{name: "empty", in: "  ", errHas: "empty"},
		{name: "no leading slash", in: "subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1", errHas: "must start with /subscriptions/"},
		{name: "wrong provider", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Cdn/cdnWebApplicationFirewallPolicies/p1", errHas: `provider "Microsoft.Cdn"`},
		{name: "not a WAF policy", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/gw1", errHas: `resource type "applicationGateways" is not a WAF policy`},
		{name: "missing name", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies", errHas: "missing the policy name"},
		{name: "missing name, trailing slash", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/", errHas: "missing the policy name"},
		{name: "missing resource group", in: "/subscriptions/" + sub + "/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1", errHas: `segment 3 is "providers", want "resourceGroups"`},
		{name: "only subscription", in: "/subscriptions/" + sub, errHas: "missing the resourceGroups segment"},
		{name: "double slash", in: "/subscriptions//resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1", errHas: "empty segment where the subscription id belongs"},
		{name: "child resource", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1/customRules/r1", errHas: `unexpected "customRules/r1" after the policy name`},
		{name: "two trailing slashes", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1//", errHas: `unexpected "" after the policy name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseResourceID(c.in)
			if c.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				back, err := ParseResourceID(got.String())
				if err != nil || back != got {
					t.Fatalf("String() %q does not parse back: %+v %v", got.String(), back, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %q does not say %q", err, c.errHas)
			}
			if fault.Of(err) != fault.Reject || fault.StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("want a 400 rejection, got %s %d", fault.Of(err), fault.StatusOf(err))
			}
		})
	}
}

func FuzzParseResourceID(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/p1")
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/p/")
	f.Add("/subscriptions//x")
	f.Fuzz(func(t *testing.T, in string) {
		id, err := ParseResourceID(in)
		if err != nil {
			return
		}
		if err := id.validate(); err != nil {
			t.Fatalf("%q parsed to an invalid id %+v: %v", in, id, err)
		}
		if back, err := ParseResourceID(id.String()); err != nil || back != id {
			t.Fatalf("%q: String() %q does not parse back: %v", in, id.String(), err)
		}
	})
}
