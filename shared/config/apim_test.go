package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestAPIMTargets(t *testing.T) {
	c, err := Load(env(map[string]string{"APIGUARD_APIM_TARGETS": `[
		{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso", "scopes": ["global", "apis/orders", "apis/orders/operations/get-order"], "tier": "Premium"},
		{"dir": "local/apim", "enforce": ["block_apim", "throttle", "block_waf"], "tier": "consumption", "consumptionThrottle": "block", "forwardedHeader": "X-Azure-ClientIP"}
	]`}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.APIMTargets[0], c.APIMTargets[1]
	if a.FragmentID != "apiguard-enforce" || len(a.Scopes) != 3 || a.Tier != "premium" || fmt.Sprint(a.Enforce) != "[block_apim throttle]" ||
		a.ForwardedHeader != "X-Forwarded-For" || a.TrustedHops != 1 || a.ConsumptionThrottle != "skip" {
		t.Errorf("defaults: %+v", a)
	}
	if b.Key() != "dir:local/apim" || b.Scopes[0] != "global" || b.ConsumptionThrottle != "block" || len(b.Enforce) != 3 {
		t.Errorf("explicit: %+v", b)
	}
	if c.ThrottleCalls != 60 || c.ThrottlePeriod != 60 {
		t.Errorf("throttle %d/%ds", c.ThrottleCalls, c.ThrottlePeriod)
	}
}

func TestAPIMTargetProblemsAllNamed(t *testing.T) {
	_, err := Load(env(map[string]string{
		"APIGUARD_APIM_TARGETS": `[{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x"},
			{"dir": "d", "fragmentId": "-bad", "scopes": ["tenant"], "enforce": ["nuke"], "tier": "gold", "consumptionThrottle": "maybe", "trustedHops": 40},
			{}]`,
		"APIGUARD_THROTTLE_PERIOD": "600",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"target 0: ", "fragmentId", `scope "tenant"`, `enforce "nuke"`, `tier "gold"`, "consumptionThrottle", "trustedHops", "target 2: needs id", "APIGUARD_THROTTLE_PERIOD"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestTriageScopes(t *testing.T) {
	svc := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso-apim"
	got, err := parseTriageScopes("", []APIMTarget{{ID: svc + "/"}, {Dir: "local/apim"}})
	if err != nil || len(got) != 1 || got[0] != svc {
		t.Errorf("default: %v %v", got, err)
	}
	got, err = parseTriageScopes(" 0000AAAA-0000-0000-0000-000000000002 , "+svc, nil)
	if err != nil || len(got) != 2 || got[0] != "0000aaaa-0000-0000-0000-000000000002" || got[1] != svc {
		t.Errorf("explicit: %v %v", got, err)
	}
	if _, err := parseTriageScopes("nope,/subscriptions/x", nil); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"/subscriptions/x"`) {
		t.Errorf("bad scopes: %v", err)
	}
}

// A snapshot folder replaces the scopes: both at once, or a folder that is not one,
// are named at start.
func TestTriageSnapshot(t *testing.T) {
	dir := t.TempDir()
	svc := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso-apim"
	c, err := Load(env(map[string]string{"APIGUARD_TRIAGE_SNAPSHOT": dir,
		"APIGUARD_APIM_TARGETS": `[{"id": "` + svc + `"}]`}))
	if err != nil || c.TriageSnapshot != dir || c.TriageScopes != nil {
		t.Errorf("snapshot: %q, scopes %v, %v", c.TriageSnapshot, c.TriageScopes, err)
	}
	for _, bad := range []map[string]string{
		{"APIGUARD_TRIAGE_SNAPSHOT": dir, "APIGUARD_TRIAGE_SCOPES": svc},
		{"APIGUARD_TRIAGE_SNAPSHOT": dir + "/absent"},
	} {
		if _, err := Load(env(bad)); err == nil || !strings.Contains(err.Error(), "APIGUARD_TRIAGE_SNAPSHOT") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
