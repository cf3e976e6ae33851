package azureapim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/apiguard/apiguard/shared/fault"
)

// The provider and type as ARM documents them; ids may use any case.
const (
	provider    = "Microsoft.ApiManagement"
	serviceType = "service"
)

// Service names one API Management instance.
type Service struct {
	Subscription, ResourceGroup, Name string
}

// String is the service's resource id in ARM's canonical spelling.
func (s Service) String() string {
	return "/subscriptions/" + s.Subscription + "/resourceGroups/" + s.ResourceGroup +
		"/providers/" + provider + "/" + serviceType + "/" + s.Name
}

// ParseServiceID reads an API Management service id:
//
//	/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{name}
//
// Segment names, the provider and the type are case-insensitive, as in ARM. Surrounding
// space and one trailing slash are tolerated. A scope below the service (apis/...) is
// refused here: scopes are given separately (ParseScope), so one service id serves
// every scope. Errors are 400 rejections naming the first thing wrong.
func ParseServiceID(id string) (Service, error) {
	fail := func(format string, a ...any) (Service, error) {
		return Service{}, fault.Rejected(http.StatusBadRequest,
			fmt.Errorf("APIM service resource id %q: %s", id, fmt.Sprintf(format, a...)))
	}
	s := strings.TrimSpace(id)
	if s == "" {
		return fail("empty")
	}
	if !strings.HasPrefix(s, "/") {
		return fail("must start with /subscriptions/")
	}
	segs := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")

	// Positions: 0 subscriptions, 1 {s}, 2 resourceGroups, 3 {rg}, 4 providers,
	// 5 Microsoft.ApiManagement, 6 service, 7 {name}.
	layout := []struct{ literal, what string }{
		{"subscriptions", "the subscriptions segment"},
		{"", "the subscription id"},
		{"resourceGroups", "the resourceGroups segment"},
		{"", "the resource group name"},
		{"providers", "the providers segment"},
		{"", "the provider namespace (" + provider + ")"},
		{"", "the resource type (" + serviceType + ")"},
		{"", "the service name"},
	}
	for i, want := range layout {
		if i >= len(segs) {
			return fail("missing %s", want.what)
		}
		switch got := segs[i]; {
		case got == "":
			return fail("empty segment where %s belongs (double slash?)", want.what)
		case want.literal != "" && !strings.EqualFold(got, want.literal):
			return fail("segment %d is %q, want %q", i+1, got, want.literal)
		}
	}
	if len(segs) > len(layout) {
		return fail("unexpected %q after the service name: a service id ends with its name (give the scope separately)",
			strings.Join(segs[len(layout):], "/"))
	}
	if !strings.EqualFold(segs[5], provider) {
		return fail("provider %q: API Management services live under %s", segs[5], provider)
	}
	if !strings.EqualFold(segs[6], serviceType) {
		return fail("resource type %q: want %s/%s/{name}", segs[6], provider, serviceType)
	}
	out := Service{Subscription: segs[1], ResourceGroup: segs[3], Name: segs[7]}
	if err := out.check(); err != nil {
		return fail("%v", err)
	}
	return out, nil
}

// validate checks a Service built by hand rather than parsed.
func (s Service) validate() error {
	if err := s.check(); err != nil {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("APIM service %q: %w", s.Name, err))
	}
	return nil
}

// check applies ARM's naming rules, so a typo fails here with a clear message rather
// than as a 404 (or a request to the wrong URL) later.
func (s Service) check() error {
	var problems []error
	if s.Subscription == "" || strings.ContainsFunc(s.Subscription, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		problems = append(problems, fmt.Errorf("subscription %q is empty or holds a slash or space", s.Subscription))
	}
	if !validResourceGroup(s.ResourceGroup) {
		problems = append(problems, fmt.Errorf("resource group %q: want 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'", s.ResourceGroup))
	}
	if !validServiceName(s.Name) {
		problems = append(problems, fmt.Errorf("service name %q: want 1-50 letters, digits or '-', starting with a letter and not ending with '-'", s.Name))
	}
	return errors.Join(problems...)
}

func validResourceGroup(rg string) bool {
	if rg == "" || len([]rune(rg)) > 90 || strings.HasSuffix(rg, ".") {
		return false
	}
	for _, r := range rg {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.()", r)) {
			return false
		}
	}
	return true
}

func validServiceName(n string) bool {
	if n == "" || len(n) > 50 || !isASCIILetter(rune(n[0])) || n[len(n)-1] == '-' {
		return false
	}
	for _, r := range n {
		if !isASCIILetter(r) && !(r >= '0' && r <= '9') && r != '-' {
			return false
		}
	}
	return true
}

func isASCIILetter(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }
