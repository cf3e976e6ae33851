package collect_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

// transportFunc adapts a function to policy.Transporter.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

// around puts fn in front of the world's transport: fn answers, or returns nil to let
// the world answer.
func around(o *collect.Options, fn func(*http.Request) (*http.Response, error)) {
	inner := o.ClientOptions.Transport
	o.ClientOptions.Transport = transportFunc(func(req *http.Request) (*http.Response, error) {
		if resp, err := fn(req); resp != nil || err != nil {
			return resp, err
		}
		return inner.Do(req)
	})
}

// Throttling, outages, network faults and calls past their deadline (after the SDK's
// retries) fail the whole run as transient, so the timer runs it again.
func TestTransientFaultsFailTheRun(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(*triagetest.World, *collect.Options)
		what  string
	}{
		{"503 on the APIs list", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext(strings.ToLower(triagetest.PartnerID)+"/apis", 100, http.StatusServiceUnavailable, "ServiceUnavailable")
		}, "HTTP 503"},
		{"429 on the products list", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext(strings.ToLower(triagetest.ShopID)+"/products", 100, http.StatusTooManyRequests, "SubscriptionRequestsThrottled")
		}, "HTTP 429"},
		{"429 on one policy", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext(strings.ToLower(triagetest.ShopID)+"/apis/returns/policies/policy", 100, http.StatusTooManyRequests, "TooManyRequests")
		}, "policy of apis/returns"},
		{"503 on the policy list", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext(strings.ToLower(triagetest.ShopID)+"/allpolicies", 100, http.StatusServiceUnavailable, "ServiceUnavailable")
		}, "policy list"},
		{"503 on the assessments", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext("/subscriptions/"+triagetest.SubShop+"/providers/microsoft.security/assessments", 100, http.StatusServiceUnavailable, "ServiceUnavailable")
		}, "assessments"},
		{"500 on every policy", func(w *triagetest.World, _ *collect.Options) {
			w.FailNext("/policies/policy", 10000, http.StatusInternalServerError, "InternalServerError")
		}, "policies unreadable"},
		{"a dropped connection", func(_ *triagetest.World, o *collect.Options) {
			around(o, func(req *http.Request) (*http.Response, error) {
				if strings.HasSuffix(strings.ToLower(req.URL.Path), "/tagresources") {
					return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
				}
				return nil, nil
			})
		}, "network error"},
		{"a call past its deadline", func(_ *triagetest.World, o *collect.Options) {
			o.CallTimeout = 50 * time.Millisecond
			around(o, func(req *http.Request) (*http.Response, error) {
				if strings.Contains(strings.ToLower(req.URL.Path), "microsoft.insights/metrics") {
					<-req.Context().Done()
					return nil, req.Context().Err()
				}
				return nil, nil
			})
		}, "deadline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := triagetest.Scenario()
			o := w.Options()
			c.setup(w, &o)
			_, err := collect.Collect(t.Context(), o)
			var fe *fault.Error
			if err == nil || !errors.As(err, &fe) || fault.Of(err) != fault.Retry {
				t.Fatalf("error %v, want a transient fault", err)
			}
			if !strings.Contains(err.Error(), c.what) {
				t.Errorf("error %q does not say %q", err, c.what)
			}
		})
	}
}

// What can be read is read: a forbidden or missing part is a gap with its effect.
func TestPartialFailuresAreGaps(t *testing.T) {
	w := triagetest.Scenario()
	shop := strings.ToLower(triagetest.ShopID)
	w.Faults[shop+"/products"] = triagetest.Fault{Status: http.StatusForbidden, Code: "AuthorizationFailed"}
	w.Faults[shop+"/tagresources"] = triagetest.Fault{Status: http.StatusForbidden, Code: "AuthorizationFailed"}
	w.Faults[shop+"/apis/catalog/operations"] = triagetest.Fault{Status: http.StatusNotFound, Code: "ResourceNotFound"}
	w.Faults[shop+"/apis/payments/policies/policy"] = triagetest.Fault{Status: http.StatusForbidden, Code: "AuthorizationFailed"}
	w.Faults[shop+"/providers/microsoft.insights/metrics"] = triagetest.Fault{Status: http.StatusForbidden, Code: "AuthorizationFailed"}
	inv, _ := collectWorld(t, w)

	want := map[string]string{
		"products":                "HTTP 403 AuthorizationFailed",
		"tags":                    "HTTP 403 AuthorizationFailed",
		"operations":              "HTTP 404 ResourceNotFound",
		"policy of apis/payments": "HTTP 403 AuthorizationFailed",
		"Capacity metric":         "HTTP 403 AuthorizationFailed",
	}
	for _, g := range inv.Gaps {
		if e, ok := want[g.What]; ok {
			if g.Error != e || g.Effect == "" {
				t.Errorf("gap %+v", g)
			}
			delete(want, g.What)
		}
	}
	if len(want) > 0 {
		t.Errorf("no gap for %v in %v", want, inv.Gaps)
	}
	s := findService(t, inv, triagetest.ShopService)
	if len(s.Products) != 0 || s.Capacity != nil {
		t.Errorf("products %v capacity %v", s.Products, s.Capacity)
	}
	if c := findAPI(t, s, "catalog"); c.Operations != nil {
		t.Errorf("catalog operations %v, want unknown (nil)", c.Operations)
	}
	if p := findAPI(t, s, "payments").Policy; !p.Unread {
		t.Errorf("payments policy %+v, want unread", p)
	}
	if findAPI(t, s, "notifications").Tags != nil {
		t.Error("tags read through a 403")
	}
	// The rest was read.
	if findAPI(t, s, "orders").Defender == nil || !s.Global.Found {
		t.Error("an unrelated part is missing")
	}
}

// A response over the body limit is a gap for what it held, never a crash, and is not
// retried.
func TestBodyLimit(t *testing.T) {
	w := triagetest.Scenario()
	o := w.Options()
	o.MaxBody = 2 << 10
	assessments := 0
	around(&o, func(req *http.Request) (*http.Response, error) {
		if strings.EqualFold(req.URL.Path, "/subscriptions/"+triagetest.SubShop+"/providers/Microsoft.Security/assessments") {
			assessments++
		}
		return nil, nil
	})
	inv, err := collect.Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range inv.Gaps {
		if g.What == "assessments" && g.Scope == "/subscriptions/"+triagetest.SubShop {
			found = g.Error == "response body over 2048 bytes"
		}
	}
	if !found {
		t.Errorf("no gap for the oversized assessments page in %v", inv.Gaps)
	}
	if assessments != 1 {
		t.Errorf("%d requests for the oversized page: it was retried", assessments)
	}
	if s := findService(t, inv, triagetest.ShopService); s.Defender.Assessments {
		t.Error("assessments marked read")
	}
}

// A source of last-seen times that fails for good is a gap; one that fails for now
// fails the run; none at all is a gap too.
func TestLastSeenFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		src     collect.LastSeen
		gap     bool
		wantErr bool
	}{
		{"none configured", nil, true, false},
		{"refused", failing{fault.Rejected(http.StatusForbidden, errors.New("table: forbidden"))}, true, false},
		{"unavailable", failing{errors.New("table: 503")}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := triagetest.Scenario().Options()
			o.LastSeen = c.src
			inv, err := collect.Collect(t.Context(), o)
			if c.wantErr {
				if fault.Of(err) != fault.Retry || err == nil {
					t.Fatalf("error %v, want transient", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, g := range inv.Gaps {
				found = found || (g.Scope == "apiguard" && g.What == "last-seen times")
			}
			if found != c.gap {
				t.Errorf("gaps %v", inv.Gaps)
			}
			if !findAPI(t, findService(t, inv, triagetest.ShopService), "orders").LastSeen.IsZero() {
				t.Error("last seen without a source")
			}
		})
	}
}

type failing struct{ err error }

func (f failing) OperationLastSeen(context.Context) (map[string]time.Time, error) { return nil, f.err }

// Options are checked before any request, every problem named.
func TestOptionsAreValidated(t *testing.T) {
	calls := 0
	o := collect.Options{
		Scopes: []string{"/subscriptions/a/resourceGroups/rg", "not a scope/", triagetest.ShopID + "/apis/orders"},
	}
	o.ClientOptions = triagetest.Scenario().ClientOptions()
	around(&o, func(*http.Request) (*http.Response, error) { calls++; return nil, nil })
	_, err := collect.Collect(t.Context(), o)
	if fault.Of(err) != fault.Reject || fault.FieldOf(err) != "collect" {
		t.Fatalf("error %v, want a rejection", err)
	}
	for _, s := range []string{"credential: missing", "resourceGroups/rg", "not a scope", "apis/orders"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not name %q", err, s)
		}
	}
	if calls > 0 {
		t.Errorf("%d requests before validation", calls)
	}
	if _, err := collect.Collect(t.Context(), collect.Options{Credential: triagetest.Scenario().Options().Credential}); fault.Of(err) != fault.Reject {
		t.Errorf("no scopes: %v", err)
	}
}

// A bare subscription id and a subscription given twice (once as a service's) read
// each service once.
func TestScopesOverlap(t *testing.T) {
	w := triagetest.Scenario()
	w.Scopes = []string{triagetest.SubShop, "/subscriptions/" + triagetest.SubShop, triagetest.ShopID, triagetest.PartnerID}
	inv, st := collectWorld(t, w)
	if len(inv.Services) != 2 {
		t.Errorf("%d services", len(inv.Services))
	}
	if st.ByKind["ServiceClient.NewListPager"] != 1 || st.ByKind["PolicyClient.Get"] != 2 {
		t.Errorf("calls %v", st.ByKind)
	}
}

// A run whose context ends returns the context's error, not a fault of ARM's.
func TestCancelledRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	o := triagetest.Scenario().Options()
	around(&o, func(req *http.Request) (*http.Response, error) {
		if strings.HasSuffix(req.URL.Path, "/operations") {
			cancel()
		}
		return nil, nil
	})
	_, err := collect.Collect(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		t.Errorf("a cancelled run reported as %v", fe.Disposition)
	}
}

var _ policy.Transporter = transportFunc(nil)
