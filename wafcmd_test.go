package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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
	var x, y any
	json.Unmarshal([]byte(back), &x)
	json.Unmarshal([]byte(cliPolicy), &y)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("removing every block did not restore the policy:\n%s", back)
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
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"properties": {"customRules": 7}}`), 0o644)
	if code, _, errOut := runCLI(t, "waf", "apply", "--kind", "frontdoor", "--policy", bad, "--block", "45.153.160.1"); code == 0 || errOut == "" {
		t.Errorf("malformed policy accepted: %d %q", code, errOut)
	}
}
