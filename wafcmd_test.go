package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliPolicy = `{"location":"Global","properties":{"customRules":{"rules":[
 {"name":"AllowOffice","priority":10,"enabledState":"Enabled","ruleType":"MatchRule","action":"Allow",
  "matchConditions":[{"matchVariable":"SocketAddr","operator":"IPMatch","negateCondition":false,"matchValue":["198.51.100.0/24"]}]}]},
 "futureField":{"x":1}}}`

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestWAFApplyAndDiff(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	blocks := filepath.Join(dir, "blocks.txt")
	os.WriteFile(policy, []byte(cliPolicy), 0o644)
	os.WriteFile(blocks, []byte("# from the SOC\n45.153.160.140\n\n45.153.170.0/24  # a range\n2a01:111:f400::7\n"), 0o644)

	code, out, errOut := runCLI(t, "waf", "apply", "--kind", "frontdoor", "--policy", policy, "--block", "45.153.160.141", "--block-file", blocks)
	if code != 0 {
		t.Fatalf("apply: %d %s", code, errOut)
	}
	for _, want := range []string{`"AllowOffice"`, `"futureField"`, `"apiguard001"`, `"45.153.160.140/31"`, `"45.153.170.0/24"`, `"2a01:111:f400::7"`, `"SocketAddr"`} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %s:\n%s", want, out)
		}
	}
	// Applying no blocks to the result gives the original policy back.
	applied := filepath.Join(dir, "applied.json")
	os.WriteFile(applied, []byte(out), 0o644)
	code, back, errOut := runCLI(t, "waf", "apply", "--kind", "frontdoor", "--policy", applied)
	if code != 0 {
		t.Fatalf("undo: %d %s", code, errOut)
	}
	if back != cliPolicy {
		t.Errorf("removing every block did not restore the policy's bytes:\n%s", back)
	}

	code, out, errOut = runCLI(t, "waf", "diff", "--kind", "frontdoor", "--policy", applied, "--block", "45.153.160.140")
	if code != 0 {
		t.Fatalf("diff: %d %s", code, errOut)
	}
	var d struct {
		Changed bool     `json:"changed"`
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || !d.Changed || len(d.Added) != 1 || d.Added[0] != "45.153.160.140" ||
		strings.Join(d.Removed, ",") != "45.153.160.140/31,45.153.170.0/24,2a01:111:f400::7" {
		t.Errorf("diff: %+v %v\n%s", d, err, out)
	}
}

func TestWAFRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(cliPolicy), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"waf", "apply", "--kind", "frontdoor", "--policy", policy, "--block", "10.1.2.3"}, "never blocked"},
		{[]string{"waf", "apply", "--kind", "frontdoor", "--policy", policy, "--block", "not-an-ip"}, "not an address"},
		{[]string{"waf", "apply", "--kind", "castle", "--policy", policy}, "kind"},
		{[]string{"waf", "apply", "--kind", "appgw", "--policy", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"waf", "apply", "--kind", "frontdoor", "--policy", policy, "--block-file", filepath.Join(dir, "nope.txt")}, "no such file"},
		{[]string{"waf", "frobnicate"}, "usage"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	// Documents that are not a policy of the kind given are refused with what they are.
	for _, tc := range []struct {
		kind, doc, want string
	}{
		{"appgw", `{"name": "site", "version": "1.0.0", "dependencies": {"left-pad": "1.3.0"}}`, "not a WAF policy: top-level keys name, version, dependencies"},
		{"appgw", cliPolicy, "a Front Door policy (properties.customRules.rules) given as kind appgw"},
		{"frontdoor", `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			"resources": [{"type": "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", "name": "p", "properties": {"customRules": []}},
			{"type": "Microsoft.Network/applicationGateways", "name": "gw"}]}`,
			"an ARM template with 2 resources, none of type Microsoft.Network/FrontDoorWebApplicationFirewallPolicies; it holds 1 Application Gateway policy"},
	} {
		path := filepath.Join(dir, "doc.json")
		os.WriteFile(path, []byte(tc.doc), 0o644)
		for _, verb := range []string{"apply", "diff"} {
			code, out, errOut := runCLI(t, "waf", verb, "--kind", tc.kind, "--policy", path, "--block", "45.153.160.1")
			if code == 0 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s %.40s: exit %d, stdout %q, stderr %q, want %q", verb, tc.doc, code, out, errOut, tc.want)
			}
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"properties": {"customRules": 7}}`), 0o644)
	if code, _, errOut := runCLI(t, "waf", "apply", "--kind", "frontdoor", "--policy", bad, "--block", "45.153.160.1"); code == 0 || errOut == "" {
		t.Errorf("malformed policy accepted: %d %q", code, errOut)
	}
}

// An ARM template with one policy of the kind is edited in place: its resource's
// rules, at priorities its own rules leave free, in its own indentation; applying
// nothing to the result gives back the template's bytes.
func TestWAFApplyTemplate(t *testing.T) {
	const template = "{\r\n" +
		"    \"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\",\r\n" +
		"    \"contentVersion\": \"1.0.0.0\",\r\n" +
		"    \"parameters\": { \"policyName\": { \"type\": \"string\" } },\r\n" +
		"    \"resources\": [\r\n" +
		"        {\r\n" +
		"            \"type\": \"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies\",\r\n" +
		"            \"apiVersion\": \"2024-05-01\",\r\n" +
		"            \"name\": \"[parameters('policyName')]\",\r\n" +
		"            \"properties\": {\r\n" +
		"                \"customRules\": [\r\n" +
		"                    { \"name\": \"OfficeOnly\", \"priority\": 50, \"ruleType\": \"MatchRule\", \"action\": \"Allow\", \"matchConditions\": [] }\r\n" +
		"                ],\r\n" +
		"                \"managedRules\": { \"managedRuleSets\": [ { \"ruleSetType\": \"OWASP\", \"ruleSetVersion\": \"3.2\" } ] }\r\n" +
		"            }\r\n" +
		"        }\r\n" +
		"    ]\r\n" +
		"}\r\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "template.json")
	os.WriteFile(path, []byte(template), 0o644)
	code, out, errOut := runCLI(t, "waf", "apply", "--kind", "appgw", "--policy", path, "--block", "45.153.160.141")
	if code != 0 {
		t.Fatalf("apply: %d %s", code, errOut)
	}
	want := "                    { \"name\": \"OfficeOnly\", \"priority\": 50, \"ruleType\": \"MatchRule\", \"action\": \"Allow\", \"matchConditions\": [] },\r\n" +
		"                    {\r\n" +
		"                        \"name\": \"apiguard001\",\r\n" +
		"                        \"priority\": 51,\r\n"
	if !strings.Contains(out, want) || strings.Count(out, `"customRules"`) != 1 || strings.Count(out, "\n") != strings.Count(out, "\r\n") {
		t.Errorf("the template's policy was not edited in place, in its own layout:\n%s", out)
	}
	applied := filepath.Join(dir, "applied.json")
	os.WriteFile(applied, []byte(out), 0o644)
	if code, back, errOut := runCLI(t, "waf", "apply", "--kind", "appgw", "--policy", applied); code != 0 || back != template {
		t.Errorf("undo: %d %s\n%s", code, errOut, back)
	}
}
