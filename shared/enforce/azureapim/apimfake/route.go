package apimfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	sdkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3/fake"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// Route names the policy or fragment a request addresses, so concurrent writers run on
// the right document and fragment writes get their own operation; a path of another
// subscription answers 404 SubscriptionNotFound.
func (s *Service) Route(req *http.Request) (fakearm.Target, *fakearm.Error) {
	sub, tg, known := parseTarget(req.URL)
	if known && !strings.EqualFold(sub, s.svc.Subscription) {
		return fakearm.Target{}, &fakearm.Error{Status: http.StatusNotFound, Code: "SubscriptionNotFound",
			Message: fmt.Sprintf("The subscription '%s' could not be found.", sub)}
	}
	return tg, nil
}

// Change stores a concurrent writer's change; the transport holds the writer lock.
func (s *Service) Change(t fakearm.Target, fn func(current []byte) []byte) {
	s.mutate(t.Key, t.Name, fn)
}

// Operation is a fresh official transport for one fragment write: the official one
// tracks an operation by the fragment's path, so two writes in flight would share it.
func (s *Service) Operation() policy.Transporter {
	return sdkfake.NewPolicyFragmentServerTransport(&s.srv.PolicyFragmentServer)
}

// parseTarget reads .../service/{svc}/{policies/policy | products/{p}/policies/policy |
// apis/{a}/policies/policy | apis/{a}/operations/{o}/policies/policy | policyFragments/{id}}:
// the subscription and the document; fragment writes are long-running.
func parseTarget(u *url.URL) (sub string, t fakearm.Target, ok bool) {
	raw := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, r := range raw {
		v, err := url.PathUnescape(r)
		if err != nil {
			return "", fakearm.Target{}, false
		}
		segs[i] = v
	}
	if len(segs) < 9 || !strings.EqualFold(segs[0], "subscriptions") {
		return "", fakearm.Target{}, false
	}
	sub, tail := segs[1], segs[8:]
	if len(tail) == 2 && strings.EqualFold(tail[0], "policyFragments") {
		return sub, fakearm.Target{Key: fragmentKey(tail[1]), Name: tail[1], LongRunning: true}, true
	}
	if len(tail) < 2 || !strings.EqualFold(tail[len(tail)-2], "policies") {
		return "", fakearm.Target{}, false
	}
	var sc azureapim.Scope
	switch p := tail[:len(tail)-2]; {
	case len(p) == 0:
	case len(p) == 2 && strings.EqualFold(p[0], "products"):
		sc.Product = p[1]
	case len(p) == 2 && strings.EqualFold(p[0], "apis"):
		sc.API = p[1]
	case len(p) == 4 && strings.EqualFold(p[0], "apis") && strings.EqualFold(p[2], "operations"):
		sc.API, sc.Operation = p[1], p[3]
	default:
		return "", fakearm.Target{}, false
	}
	return sub, fakearm.Target{Key: policyKey(sc), Name: sc.String()}, true
}
