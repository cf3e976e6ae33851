package waf

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

func TestOptionsDefaults(t *testing.T) {
	for _, c := range []struct {
		kind     Kind
		variable string
	}{{AppGW, "RemoteAddr"}, {FrontDoor, "SocketAddr"}} {
		o := Options{Kind: c.kind}.WithDefaults()
		want := Options{Kind: c.kind, NamePrefix: "apiguard", PriorityStart: 50, PriorityEnd: 99, MaxValues: 600,
			MaxRules: 100, Action: "Block", MatchVariable: c.variable}
		if o != want {
			t.Errorf("%s: %+v", c.kind, o)
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s defaults: %v", c.kind, err)
		}
	}
	set := Options{Kind: AppGW, NamePrefix: "Edge", PriorityStart: 1, PriorityEnd: 100, MaxValues: 540, MaxRules: 90, Action: "Log", MatchVariable: "RemoteAddr"}
	if set.WithDefaults() != set {
		t.Error("WithDefaults changed a set field")
	}
}

// Validate names every problem at once, as a rejection.
func TestOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want []string
	}{
		{"everything wrong", Options{Kind: "cdn", NamePrefix: "9lives", PriorityStart: 0, PriorityEnd: 5, MaxValues: 601, MaxRules: 101, Action: "Allow", MatchVariable: "SocketAddr"},
			[]string{`kind "cdn"`, `name prefix "9lives"`, "band 50-5 is empty", "max values 601", "max rules 101", `action "Allow"`}},
		{"band below 1", Options{Kind: FrontDoor, PriorityStart: -5, PriorityEnd: 10}, []string{"must start at 1"}},
		{"AppGW band past 100", Options{Kind: AppGW, PriorityStart: 90, PriorityEnd: 101}, []string{"appgw custom rules take priorities 1-100"}},
		{"empty band", Options{Kind: FrontDoor, PriorityStart: 60, PriorityEnd: 59}, []string{"band 60-59 is empty"}},
		{"AppGW has no SocketAddr", Options{Kind: AppGW, MatchVariable: "SocketAddr"}, []string{"RemoteAddr only"}},
		{"prefix too long", Options{Kind: AppGW, NamePrefix: strings.Repeat("a", 41)}, []string{"name prefix"}},
		{"prefix with a dash", Options{Kind: AppGW, NamePrefix: "api-guard"}, []string{"name prefix"}},
		{"Front Door takes a wide band", Options{Kind: FrontDoor, PriorityStart: 1000, PriorityEnd: 5000}, nil},
		{"Front Door on RemoteAddr", Options{Kind: FrontDoor, MatchVariable: "RemoteAddr"}, nil},
		{"a 40-character prefix", Options{Kind: AppGW, NamePrefix: "A" + strings.Repeat("b1", 19) + "c"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.WithDefaults().Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || fault.Of(err) != fault.Reject {
				t.Fatalf("err %v, want a rejection", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
		})
	}
}
