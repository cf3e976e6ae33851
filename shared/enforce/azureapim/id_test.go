package azureapim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

const sub = "00000000-0000-0000-0000-000000000001"

// serviceIDCases feed the table test and the fuzz seed corpus.
var serviceIDCases = []struct {
	name, in string
	want     Service
	errHas   string // "" means valid
}{
	{name: "canonical", in: "/subscriptions/" + sub + "/resourceGroups/rg-api/providers/Microsoft.ApiManagement/service/apim-prod",
		want: Service{Subscription: sub, ResourceGroup: "rg-api", Name: "apim-prod"}},
	{name: "lower case", in: "/subscriptions/" + sub + "/resourcegroups/RG_1.(x)/providers/microsoft.apimanagement/service/a",
		want: Service{Subscription: sub, ResourceGroup: "RG_1.(x)", Name: "a"}},
	{name: "upper case", in: "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/Apim1",
		want: Service{Subscription: sub, ResourceGroup: "rg", Name: "Apim1"}},
	{name: "trailing slash and space", in: " /subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/ ",
		want: Service{Subscription: sub, ResourceGroup: "rg", Name: "apim"}},
	{name: "unicode resource group", in: "/subscriptions/" + sub + "/resourceGroups/rg-café/providers/Microsoft.ApiManagement/service/apim",
		want: Service{Subscription: sub, ResourceGroup: "rg-café", Name: "apim"}},

	{name: "empty", in: " ", errHas: "empty"},
	{name: "no leading slash", in: "subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim", errHas: "must start with /subscriptions/"},
	{name: "wrong provider", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/service/apim", errHas: `provider "Microsoft.Network"`},
	{name: "wrong type", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/gateways/gw", errHas: `resource type "gateways"`},
	{name: "missing name", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service", errHas: "missing the service name"},
	{name: "missing name, trailing slash", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/", errHas: "missing the service name"},
	{name: "missing resource group", in: "/subscriptions/" + sub + "/providers/Microsoft.ApiManagement/service/apim", errHas: `segment 3 is "providers", want "resourceGroups"`},
	{name: "double slash", in: "/subscriptions//resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim", errHas: "empty segment where the subscription id belongs"},
	{name: "a scope below the service", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/apis/echo", errHas: `unexpected "apis/echo" after the service name`},
	{name: "name with underscore", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim_prod", errHas: `service name "apim_prod"`},
	{name: "name starting with a digit", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/1apim", errHas: `service name "1apim"`},
	{name: "name ending with a hyphen", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-", errHas: `service name "apim-"`},
	{name: "name too long", in: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ApiManagement/service/a" + strings.Repeat("b", 50), errHas: "service name"},
	{name: "resource group ending with a period", in: "/subscriptions/" + sub + "/resourceGroups/rg./providers/Microsoft.ApiManagement/service/apim", errHas: `resource group "rg."`},
	{name: "resource group with a space", in: "/subscriptions/" + sub + "/resourceGroups/rg x/providers/Microsoft.ApiManagement/service/apim", errHas: `resource group "rg x"`},
}

func TestParseServiceID(t *testing.T) {
	for _, c := range serviceIDCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseServiceID(c.in)
			if c.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				if back, err := ParseServiceID(got.String()); err != nil || back != got {
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

func FuzzParseServiceID(f *testing.F) {
	for _, c := range serviceIDCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		svc, err := ParseServiceID(in)
		if err != nil {
			if fault.Of(err) != fault.Reject {
				t.Fatalf("%q: error without a rejection: %v", in, err)
			}
			return
		}
		if err := svc.validate(); err != nil {
			t.Fatalf("%q parsed to an invalid service %+v: %v", in, svc, err)
		}
		if back, err := ParseServiceID(svc.String()); err != nil || back != svc {
			t.Fatalf("%q: String() %q does not parse back: %v", in, svc.String(), err)
		}
	})
}
