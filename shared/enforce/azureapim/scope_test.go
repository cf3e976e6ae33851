package azureapim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

// scopeCases feed the table test and the fuzz seed corpus.
var scopeCases = []struct {
	in     string
	want   Scope
	errHas string // "" means valid
}{
	{in: "global", want: Scope{}},
	{in: "GLOBAL", want: Scope{}},
	{in: " Global/ ", want: Scope{}},
	{in: "products/starter", want: Scope{Product: "starter"}},
	{in: "Products/Starter", want: Scope{Product: "Starter"}},
	{in: "/products/starter/", want: Scope{Product: "starter"}},
	{in: "apis/echo-api", want: Scope{API: "echo-api"}},
	{in: "APIs/echo-api;rev=2", want: Scope{API: "echo-api;rev=2"}},
	{in: "apis/echo-api/operations/retrieve-resource", want: Scope{API: "echo-api", Operation: "retrieve-resource"}},
	{in: "Apis/Echo/OPERATIONS/Get", want: Scope{API: "Echo", Operation: "Get"}},
	{in: "apis/my api", want: Scope{API: "my api"}},

	{in: "", errHas: "empty"},
	{in: " / ", errHas: "empty"},
	{in: "service", errHas: `unknown scope kind "service"`},
	{in: "workspaces/w1", errHas: `unknown scope kind "workspaces"`},
	{in: "global/x", errHas: "global takes nothing after it"},
	{in: "products", errHas: "a product scope is products/{id}"},
	{in: "products/", errHas: "a product scope is products/{id}"}, // trailing slash trimmed: no id left
	{in: "products/p/apis/a", errHas: "a product scope is products/{id}"},
	{in: "apis", errHas: "an API scope is apis/{id}"},
	{in: "apis/a/operations", errHas: "an API scope is apis/{id}"},
	{in: "apis/a/ops/o", errHas: `segment 3 is "ops", want "operations"`},
	{in: "apis/a/operations/o/policies", errHas: "an API scope is apis/{id}"},
	{in: "apis//operations/o", errHas: "segment 2 is empty"},
	{in: "apis/a/operations/", errHas: "an API scope is apis/{id}"},
	{in: "products//", errHas: "segment 2 is empty"},
	{in: "apis/..", errHas: `API id ".." is not an id`},
	{in: "apis/a?b", errHas: "holds one of"},
	{in: "products/a#b", errHas: "holds one of"},
	{in: "apis/ a", errHas: "surrounding space"},
	{in: "apis/a\x00", errHas: "control character"},
	{in: "apis/a/operations/" + strings.Repeat("o", 81), errHas: "operation id is longer than 80"},
	{in: "products/" + strings.Repeat("p", 257), errHas: "product id is longer than 256"},
}

func TestParseScope(t *testing.T) {
	for _, c := range scopeCases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseScope(c.in)
			if c.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				if back, err := ParseScope(got.String()); err != nil || back != got {
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

func TestScopeString(t *testing.T) {
	for sc, want := range map[Scope]string{
		{}:                         "global",
		{Product: "p"}:             "products/p",
		{API: "a"}:                 "apis/a",
		{API: "a", Operation: "o"}: "apis/a/operations/o",
	} {
		if got := sc.String(); got != want {
			t.Errorf("%+v: %q, want %q", sc, got, want)
		}
	}
}

func TestFragmentID(t *testing.T) {
	for id, ok := range map[string]bool{
		"apiguard-blocks": true, "a": true, "A_1": true, "_x_": true, strings.Repeat("f", 80): true,
		"": false, "-a": false, "a-": false, "a b": false, "a/b": false, "é": false, strings.Repeat("f", 81): false,
	} {
		if err := checkFragmentID(id); (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, c := range scopeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := ParseScope(in)
		if err != nil {
			if fault.Of(err) != fault.Reject {
				t.Fatalf("%q: error without a rejection: %v", in, err)
			}
			return
		}
		if err := sc.validate(); err != nil {
			t.Fatalf("%q parsed to an invalid scope %+v: %v", in, sc, err)
		}
		if back, err := ParseScope(sc.String()); err != nil || back != sc {
			t.Fatalf("%q: String() %q does not parse back to %+v: %+v %v", in, sc.String(), sc, back, err)
		}
	})
}
