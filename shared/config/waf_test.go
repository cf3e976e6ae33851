package config

import (
	"strings"
	"testing"
)

func TestWAFTargets(t *testing.T) {
	c, err := Load(env(map[string]string{"APIGUARD_WAF_TARGETS": `[
		{"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/frontdoorWebApplicationFirewallPolicies/edge"},
		{"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/agw", "prefix": "soc", "priorities": "20-30", "canary": true, "maxValues": 540},
		{"file": "local/waf/fd.json", "kind": "frontdoor"}
	]`}))
	if err != nil {
		t.Fatal(err)
	}
	ts := c.WAFTargets
	if len(ts) != 3 || ts[0].Kind != "frontdoor" || ts[0].Prefix != "apiguard" || ts[0].PriorityStart != 50 || ts[0].PriorityEnd != 99 || ts[0].MaxValues != 600 {
		t.Errorf("defaults: %+v", ts[0])
	}
	if ts[1].Kind != "appgw" || ts[1].Prefix != "soc" || ts[1].PriorityStart != 20 || ts[1].PriorityEnd != 30 || !ts[1].Canary || ts[1].MaxValues != 540 {
		t.Errorf("explicit: %+v", ts[1])
	}
	if ts[2].Key() != "file:local/waf/fd.json" {
		t.Errorf("key %q", ts[2].Key())
	}
	if err := c.RequireQueue(); err == nil {
		t.Error("WAF targets without Service Bus passed RequireQueue")
	}
}

func TestWAFTargetProblemsAllNamed(t *testing.T) {
	_, err := Load(env(map[string]string{"APIGUARD_WAF_TARGETS": `[
		{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"},
		{"file": "a.json"},
		{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/p", "priorities": "90-120"},
		{"file": "b.json", "kind": "frontdoor", "prefix": "1bad", "maxValues": 700},
		{"file": "b.json", "kind": "frontdoor"},
		{}
	]`}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"target 0", "target 1: a file target needs kind", "target 2: priorities", "target 3: prefix", "target 3: maxValues", "target 4: file:b.json is listed twice", "target 5: needs id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := Load(env(map[string]string{"APIGUARD_WAF_TARGETS": `{"id": "x"}`})); err == nil || !strings.Contains(err.Error(), "JSON array") {
		t.Errorf("object instead of array: %v", err)
	}
	if _, err := Load(env(map[string]string{"APIGUARD_WAF_TARGETS": `[{"file":"a","kind":"appgw","colour":"red"}]`})); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
}
