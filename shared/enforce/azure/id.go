package azure

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
)

// Kinds of WAF policy, as the rest of apiguard names them (config, waf packing).
const (
	KindAppGW     = "appgw"
	KindFrontDoor = "frontdoor"
)

// The resource types, spelled as ARM documents them; ids may use any case.
const (
	appGWType     = "ApplicationGatewayWebApplicationFirewallPolicies"
	frontDoorType = "FrontDoorWebApplicationFirewallPolicies"
	network       = "Microsoft.Network"
)

// ResourceID is a parsed WAF policy id.
type ResourceID struct {
	Subscription, ResourceGroup, Name string
	Kind                              string // KindAppGW or KindFrontDoor
}

// String is the id in ARM's canonical spelling.
func (id ResourceID) String() string {
	typ := appGWType
	if id.Kind == KindFrontDoor {
		typ = frontDoorType
	}
	return "/subscriptions/" + id.Subscription + "/resourceGroups/" + id.ResourceGroup +
		"/providers/" + network + "/" + typ + "/" + id.Name
}

// ParseResourceID reads an Application Gateway or Front Door WAF policy id:
//
//	/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/{name}
//	/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/{name}
//
// Segment names, the provider and the type are case-insensitive, as in ARM. Surrounding
// space and one trailing slash are tolerated (the config validator accepts them too).
// Anything else is rejected with an error that names the first thing wrong.
func ParseResourceID(id string) (ResourceID, error) {
	fail := func(format string, a ...any) (ResourceID, error) {
		return ResourceID{}, fault.Rejected(http.StatusBadRequest,
			fmt.Errorf("WAF policy resource id %q: %s", id, fmt.Sprintf(format, a...)))
	}
	s := strings.TrimSpace(id)
	if s == "" {
		return fail("empty")
	}
	if !strings.HasPrefix(s, "/") {
		return fail("must start with /subscriptions/")
	}
	s = strings.TrimSuffix(s[1:], "/")
	segs := strings.Split(s, "/")

	// Positions: 0 subscriptions, 1 {s}, 2 resourceGroups, 3 {rg}, 4 providers,
	// 5 Microsoft.Network, 6 {type}, 7 {name}.
	layout := []struct {
		literal string // a fixed segment, or "" for a value
		what    string
	}{
		{"subscriptions", "the subscriptions segment"},
		{"", "the subscription id"},
		{"resourceGroups", "the resourceGroups segment"},
		{"", "the resource group name"},
		{"providers", "the providers segment"},
		{"", "the provider namespace (Microsoft.Network)"},
		{"", "the resource type"},
		{"", "the policy name"},
	}
	for i, want := range layout {
		if i >= len(segs) {
			return fail("missing %s", want.what)
		}
		got := segs[i]
		switch {
		case got == "":
			return fail("empty segment where %s belongs (double slash?)", want.what)
		case want.literal != "" && !strings.EqualFold(got, want.literal):
			return fail("segment %d is %q, want %q", i+1, got, want.literal)
		}
	}
	if len(segs) > len(layout) {
		return fail("unexpected %q after the policy name: a policy id ends with its name", strings.Join(segs[len(layout):], "/"))
	}
	if !strings.EqualFold(segs[5], network) {
		return fail("provider %q: WAF policies apiguard manages live under %s", segs[5], network)
	}
	out := ResourceID{Subscription: segs[1], ResourceGroup: segs[3], Name: segs[7]}
	switch {
	case strings.EqualFold(segs[6], appGWType):
		out.Kind = KindAppGW
	case strings.EqualFold(segs[6], frontDoorType):
		out.Kind = KindFrontDoor
	default:
		return fail("resource type %q is not a WAF policy: want %s or %s", segs[6], appGWType, frontDoorType)
	}
	return out, nil
}

// validate checks a ResourceID built by hand rather than parsed.
func (id ResourceID) validate() error {
	var problems []error
	if id.Kind != KindAppGW && id.Kind != KindFrontDoor {
		problems = append(problems, fmt.Errorf("kind %q is not %s or %s", id.Kind, KindAppGW, KindFrontDoor))
	}
	for _, f := range []struct{ name, v string }{
		{"subscription", id.Subscription}, {"resource group", id.ResourceGroup}, {"name", id.Name},
	} {
		if f.v == "" || strings.Contains(f.v, "/") {
			problems = append(problems, fmt.Errorf("%s %q is empty or holds a slash", f.name, f.v))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("WAF policy resource id: %w", err))
	}
	return nil
}
