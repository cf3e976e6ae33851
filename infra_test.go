package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/config"
)

// The Bicep templates are checked as text: no Bicep compiler runs here, so the tests
// rely on the conventions infra/README.md states (app settings as the object literals
// of main.bicep's `var ...Settings` declarations, one `KEY: value` a line; resource
// declarations as `resource sym 'type@version'`). A template that breaks a convention
// fails these tests rather than passing unseen.

// leftToDefault are the settings the deployment deliberately does not set, with why.
// A setting the code reads is either set by infra/main.bicep or listed here.
var leftToDefault = map[string]string{
	"APIGUARD_TABLES_CONNECTION":       "secret connection string; the deployment uses APIGUARD_TABLES_URL with the managed identity",
	"APIGUARD_TABLE_PREFIX":            "the default names the tables; change only to share one account between instances",
	"APIGUARD_LOG_LEVEL":               "info is the production level; raise it by hand while troubleshooting",
	"APIGUARD_MODE_OVERRIDES":          "rollout tuning an operator sets after reading dry-run results",
	"APIGUARD_PLAYBOOK":                "the built-in playbook until an operator overrides it",
	"APIGUARD_DEFAULT_ACTION":          "record: unknown alert types enforce nothing",
	"APIGUARD_DURATION_INFORMATIONAL":  "documented default duration",
	"APIGUARD_DURATION_LOW":            "documented default duration",
	"APIGUARD_DURATION_MEDIUM":         "documented default duration",
	"APIGUARD_DURATION_HIGH":           "documented default duration",
	"APIGUARD_MAX_DURATION":            "documented default cap",
	"APIGUARD_ESCALATION_LOOKBACK":     "documented default window",
	"APIGUARD_JITTER":                  "documented default jitter",
	"APIGUARD_MAX_BLOCKS_PER_INCIDENT": "documented default share of the hourly cap",
	"APIGUARD_MAX_BODY_BYTES":          "documented default body limit",
	"APIGUARD_SERVE_HEADER_TIMEOUT":    "apiguard serve only; the Functions host fronts the handler",
	"APIGUARD_SERVE_BODY_TIMEOUT":      "apiguard serve only; the Functions host fronts the handler",
	"APIGUARD_SERVE_WRITE_TIMEOUT":     "documented default; bounds the handler under the host too",
	"APIGUARD_SERVE_IDLE_TIMEOUT":      "apiguard serve only; the Functions host fronts the handler",
	"APIGUARD_SERVE_MAX_HEADER_BYTES":  "apiguard serve only; the Functions host fronts the handler",
	"APIGUARD_SERVE_MAX_CONCURRENT":    "apiguard serve only; under the host the host's concurrency applies",
	"APIGUARD_THROTTLE_CALLS":          "documented default rate for throttled clients",
	"APIGUARD_THROTTLE_PERIOD":         "documented default period for throttled clients",
	"APIGUARD_TRAFFIC_FORMAT":          "auto detects the format per batch",
	"APIGUARD_DETECT_CONFIG":           "detector defaults until tuned on the operator's traffic",
	"APIGUARD_APPROVAL_TTL":            "documented default wait for approvals",
	"APIGUARD_API_KEY":                 "apiguard serve only; the Functions host uses function keys",
	"APIGUARD_TRIAGE_SNAPSHOT":         "evaluation only; exclusive with APIGUARD_TRIAGE_SCOPES",
	"APIGUARD_TRIAGE_READS_PER_SECOND": "documented default pace under ARM's read limit",
	"APIGUARD_TRIAGE_MAX_CAPACITY":     "documented default capacity ceiling",
	"APIGUARD_HEALTH_STALE_AFTER":      "documented default",
	"APIGUARD_CALL_TIMEOUT":            "documented default",
	"APIGUARD_INVOCATION_BUDGET":       "documented default, below Event Grid's delivery timeout",
	"APIGUARD_BACKGROUND_BUDGET":       "documented default, below the queue lock",
	"ServiceBusConnection":             "secret connection string; the deployment uses ServiceBusConnection__fullyQualifiedNamespace with the managed identity",
}

// hostSettingPrefixes are settings the Functions host or its extensions read, not apiguard.
var hostSettingPrefixes = []string{"AzureWebJobsStorage__", "APPLICATIONINSIGHTS_", "FUNCTIONS_", "WEBSITE_"}

// sdkSettings are read by the Azure SDK inside apiguard rather than by config.
var sdkSettings = map[string]string{
	"AZURE_CLIENT_ID": "DefaultAzureCredential picks the user-assigned identity by it (tables, ARM, Service Bus sender)",
}

// identityConnectionParts are the parts of an identity-based connection setting.
var identityConnectionParts = []string{"fullyQualifiedNamespace", "credential", "clientId"}

// builtInRoles are the built-in role definitions the deployment may assign: data and
// monitoring roles only, never Owner or Contributor, and no *Data Owner role but the one
// the Functions host documents as its storage minimum, on apiguard's own account.
var builtInRoles = map[string]string{
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner (host storage, infra/modules/storage.bicep only)",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"39bc4728-0917-49c7-9d2c-d95423bc2eb4": "Security Reader",
}

// customRoles are the custom roles the deployment defines, by the start of their
// roleName, with exactly the actions each grants: the ARM operations apiguard calls
// (shared/enforce, shared/triage/collect), named as in Azure's resource provider
// operations list.
var customRoles = map[string][]string{
	"apiguard WAF policy writer": {
		"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/read",
		"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/write",
		"Microsoft.Network/frontdoorWebApplicationFirewallPolicies/read",
		"Microsoft.Network/frontdoorWebApplicationFirewallPolicies/write",
	},
	"apiguard API Management policy writer": {
		"Microsoft.ApiManagement/service/read",
		"Microsoft.ApiManagement/service/policies/read",
		"Microsoft.ApiManagement/service/policies/write",
		"Microsoft.ApiManagement/service/products/policies/read",
		"Microsoft.ApiManagement/service/products/policies/write",
		"Microsoft.ApiManagement/service/apis/policies/read",
		"Microsoft.ApiManagement/service/apis/policies/write",
		"Microsoft.ApiManagement/service/apis/operations/policies/read",
		"Microsoft.ApiManagement/service/apis/operations/policies/write",
		"Microsoft.ApiManagement/service/policyFragments/read",
		"Microsoft.ApiManagement/service/policyFragments/write",
	},
	"apiguard API inventory reader": {
		"Microsoft.ApiManagement/service/read",
		"Microsoft.ApiManagement/service/apis/read",
		"Microsoft.ApiManagement/service/apis/operations/read",
		"Microsoft.ApiManagement/service/apis/policies/read",
		"Microsoft.ApiManagement/service/apis/operations/policies/read",
		"Microsoft.ApiManagement/service/products/read",
		"Microsoft.ApiManagement/service/products/apis/read",
		"Microsoft.ApiManagement/service/products/policies/read",
		"Microsoft.ApiManagement/service/policies/read",
		"Microsoft.ApiManagement/service/tagResources/read",
		"Microsoft.Insights/metrics/read",
		"Microsoft.Security/apiCollections/read",
		"Microsoft.Security/apiCollections/write",
	},
}

// bicepFiles reads every template under infra/, full-line comments removed.
func bicepFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir("infra", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".bicep") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var lines []string
		for _, l := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "//") {
				lines = append(lines, l)
			}
		}
		out[filepath.ToSlash(path)] = strings.Join(lines, "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out["infra/main.bicep"] == "" {
		t.Fatal("infra/main.bicep is missing")
	}
	return out
}

// block returns the text between the brace at or after from and its match.
func block(t *testing.T, src string, from int) string {
	t.Helper()
	return balanced(t, src, from, '{', '}')
}

// balanced returns the text between the first open at or after from and its match.
func balanced(t *testing.T, src string, from int, open, close byte) string {
	t.Helper()
	start := strings.IndexByte(src[from:], open)
	if start < 0 {
		t.Fatalf("no %c after %q", open, src[from:min(len(src), from+40)])
	}
	start += from
	depth := 0
	for i := start; i < len(src); i++ {
		switch src[i] {
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return src[start+1 : i]
			}
		}
	}
	t.Fatalf("unbalanced %c at %q", open, src[start:min(len(src), start+40)])
	return ""
}

var (
	settingsVarRe = regexp.MustCompile(`(?m)^var (\w+Settings) = `)
	entryRe       = regexp.MustCompile(`^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:\s*(.+?)\s*$`)
	stringVarRe   = regexp.MustCompile(`(?m)^var (\w+) = '([^'$]*)'\s*$`)
)

// appSettings are the app settings main.bicep sets: the entries of every
// `var xxxSettings = ...` object literal, name -> expression.
func appSettings(t *testing.T, main string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range settingsVarRe.FindAllStringSubmatchIndex(main, -1) {
		body := block(t, main, m[1])
		depth := 0
		for _, line := range strings.Split(body, "\n") {
			if depth == 0 && strings.TrimSpace(line) != "" {
				e := entryRe.FindStringSubmatch(line)
				if e == nil {
					t.Fatalf("%s: not a `NAME: value` line: %q", main[m[2]:m[3]], line)
				}
				if _, dup := out[e[1]]; dup {
					t.Errorf("app setting %s set twice", e[1])
				}
				out[e[1]] = e[2]
			}
			depth += strings.Count(line, "{") + strings.Count(line, "[") - strings.Count(line, "}") - strings.Count(line, "]")
		}
	}
	if len(out) == 0 {
		t.Fatal("no app settings found in infra/main.bicep: the `var ...Settings = {` convention is broken")
	}
	return out
}

// binding is the part of a function.json binding the templates must agree with.
type binding struct {
	Type          string `json:"type"`
	Connection    string `json:"connection"`
	QueueName     string `json:"queueName"`
	EventHubName  string `json:"eventHubName"`
	ConsumerGroup string `json:"consumerGroup"`
	Sessions      bool   `json:"isSessionsEnabled"`
}

func functionBindings(t *testing.T) map[string][]binding {
	t.Helper()
	files, err := filepath.Glob("functions/*/function.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json: %v", err)
	}
	out := map[string][]binding{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fj struct{ Bindings []binding }
		if err := json.Unmarshal(raw, &fj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(filepath.Dir(f))] = fj.Bindings
	}
	return out
}

// Every setting the code reads is set by the deployment or deliberately left to its
// default; every app setting the deployment sets is read by the code or the host.
func TestInfraSettingsMatchCode(t *testing.T) {
	set := appSettings(t, bicepFiles(t)["infra/main.bicep"])
	read := map[string]bool{}
	for _, s := range config.Settings {
		read[s.Name] = true
		_, isSet := set[s.Name]
		reason, isLeft := leftToDefault[s.Name]
		switch {
		case isSet && isLeft:
			t.Errorf("%s is set by the Bicep and listed as left to its default (%s)", s.Name, reason)
		case !isSet && !isLeft:
			t.Errorf("%s is read by the code but neither set in infra/main.bicep nor listed in leftToDefault", s.Name)
		}
	}
	for name := range leftToDefault {
		if !read[name] {
			t.Errorf("leftToDefault lists %s, which the code does not read", name)
		}
	}
	connections := map[string]bool{}
	for _, bs := range functionBindings(t) {
		for _, b := range bs {
			if b.Connection != "" {
				connections[b.Connection] = true
			}
		}
	}
	for name := range set {
		if _, sdk := sdkSettings[name]; sdk || read[name] || slices.ContainsFunc(hostSettingPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		if conn, part, ok := strings.Cut(name, "__"); ok && connections[conn] && slices.Contains(identityConnectionParts, part) {
			continue
		}
		t.Errorf("infra/main.bicep sets %s, which neither apiguard nor the Functions host reads", name)
	}
}

// Every connection is identity-based with the app's user-assigned identity: no
// connection string, a credential of managedidentity and the identity's client id.
func TestInfraConnectionsUseManagedIdentity(t *testing.T) {
	set := appSettings(t, bicepFiles(t)["infra/main.bicep"])
	conns := map[string]string{"AzureWebJobsStorage": "accountName"}
	for _, bs := range functionBindings(t) {
		for _, b := range bs {
			if b.Connection != "" {
				conns[b.Connection] = "fullyQualifiedNamespace"
			}
		}
	}
	if len(conns) < 3 {
		t.Fatalf("found connections %v: expected the host storage, Service Bus and Event Hubs", conns)
	}
	for conn, endpoint := range conns {
		if _, ok := set[conn]; ok {
			t.Errorf("%s is set as a connection string: use %s__%s with the managed identity", conn, conn, endpoint)
		}
		for _, part := range []string{endpoint, "clientId"} {
			if _, ok := set[conn+"__"+part]; !ok {
				t.Errorf("%s__%s is not set", conn, part)
			}
		}
		if v := set[conn+"__credential"]; v != "'managedidentity'" {
			t.Errorf("%s__credential = %q, want 'managedidentity'", conn, v)
		}
	}
	if v := set["AZURE_CLIENT_ID"]; !strings.Contains(v, "clientId") {
		t.Errorf("AZURE_CLIENT_ID = %q: DefaultAzureCredential needs the user-assigned identity's client id", v)
	}
	if v, ok := set["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; !ok || !strings.Contains(v, "Authorization=AAD;ClientId=") {
		t.Errorf("APPLICATIONINSIGHTS_AUTHENTICATION_STRING = %q: want Entra authentication with the identity's client id", v)
	}
}

// The queue, hub and consumer group names the bindings resolve from settings are set
// by the deployment to the names it creates, which are the documented defaults, and
// the sessions the reconcile trigger needs are enabled on its queue.
func TestInfraQueueAndHubNames(t *testing.T) {
	main := bicepFiles(t)["infra/main.bicep"]
	set := appSettings(t, main)
	vars := map[string]string{}
	for _, m := range stringVarRe.FindAllStringSubmatch(main, -1) {
		vars[m[1]] = m[2]
	}
	defaults := map[string]string{}
	for _, s := range config.Settings {
		defaults[s.Name] = s.Default
	}
	checked := 0
	for fn, bs := range functionBindings(t) {
		for _, b := range bs {
			for _, ref := range []string{b.QueueName, b.EventHubName, b.ConsumerGroup} {
				if ref == "" {
					continue
				}
				name, ok := strings.CutPrefix(ref, "%")
				if name, ok = strings.CutSuffix(name, "%"); !ok {
					t.Errorf("%s: %q is a literal name: resolve it from a setting (%%NAME%%)", fn, ref)
					continue
				}
				expr, ok := set[name]
				if !ok {
					t.Errorf("%s resolves %%%s%%, which infra/main.bicep does not set", fn, name)
					continue
				}
				value, ok := vars[expr]
				if !ok {
					t.Errorf("%s = %s: want a `var` holding the literal name, passed to the module that creates it", name, expr)
					continue
				}
				if value != defaults[name] {
					t.Errorf("%s: the Bicep creates %q, the documented default is %q", name, value, defaults[name])
				}
				// The variable must name the resource too, not only the setting.
				uses := regexp.MustCompile(`\b`+expr+`\b`).FindAllStringIndex(main, -1)
				if len(uses) < 3 { // declaration, app setting, resource
					t.Errorf("%s (%s) is not passed to the module that creates the resource", expr, name)
				}
				if ref == b.QueueName {
					queue := ""
					for _, u := range uses {
						if open := strings.LastIndexByte(main[:u[0]], '{'); open >= 0 && strings.HasPrefix(strings.TrimSpace(main[open+1:u[0]]), "name:") {
							queue = block(t, main, open)
						}
					}
					if queue == "" {
						t.Errorf("no `{ name: %s, ... }` queue declaration in infra/main.bicep", expr)
					} else if got := strings.Contains(queue, "requiresSession: true"); got != b.Sessions {
						t.Errorf("queue %s: requiresSession %v, the %s trigger's isSessionsEnabled %v", value, got, fn, b.Sessions)
					}
				}
				checked++
			}
		}
	}
	if checked < 4 {
		t.Errorf("checked %d queue/hub names: expected the reconcile and traffic queues, the hub and its consumer group", checked)
	}
}

var resourceRe = regexp.MustCompile(`(?m)^\s*resource\s+\w+\s+'([^'@]+)@([^']+)'`)

// Every resource type and API version the templates use was checked against the
// published Bicep types, and the checked list has no stale rows.
func TestInfraResourceTypesChecked(t *testing.T) {
	raw, err := os.ReadFile("infra/resource-types.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`Microsoft.") {
			continue
		}
		typ := strings.Trim(strings.TrimSpace(cells[1]), "`")
		ver := strings.Trim(strings.TrimSpace(cells[2]), "`")
		if !strings.Contains(cells[3], "generated/") {
			t.Errorf("%s@%s: the row does not say where in Azure/bicep-types-az it was checked", typ, ver)
		}
		checked[typ+"@"+ver] = true
	}
	used := map[string]bool{}
	for path, src := range bicepFiles(t) {
		for _, m := range resourceRe.FindAllStringSubmatch(src, -1) {
			key := m[1] + "@" + m[2]
			used[key] = true
			if !checked[key] {
				t.Errorf("%s uses %s, which infra/resource-types.md does not list as checked", path, key)
			}
		}
	}
	var stale []string
	for key := range checked {
		if !used[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("infra/resource-types.md lists types no template uses: %v", stale)
	}
	if len(used) < 8 {
		t.Errorf("found %d resource types in infra/: the `resource sym 'type@version'` parsing is broken", len(used))
	}
}

var (
	guidRe        = regexp.MustCompile(`'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'`)
	permissionsRe = regexp.MustCompile(`\bpermissions\s*:`)
	quotedRe      = regexp.MustCompile(`'([^']*)'`)
)

var roleNameRe = regexp.MustCompile(`roleName:\s*'([^']*)'`)

// Roles are least-privilege: built-in roles only from the data and monitoring list
// above, each custom role with exactly its listed actions (no wildcard, nothing in
// notActions or dataActions that the list does not name).
func TestInfraRolesLeastPrivilege(t *testing.T) {
	roles := 0
	defined := map[string]int{}
	for path, src := range bicepFiles(t) {
		for _, m := range guidRe.FindAllStringSubmatch(src, -1) {
			roles++
			name, ok := builtInRoles[m[1]]
			if !ok {
				t.Errorf("%s names role %s, which is not in the allowed built-in roles", path, m[1])
			}
			if strings.Contains(name, "Data Owner") && path != "infra/modules/storage.bicep" {
				t.Errorf("%s assigns %s: allowed on apiguard's own storage account only", path, name)
			}
		}
		for _, m := range permissionsRe.FindAllStringIndex(src, -1) {
			names := roleNameRe.FindAllStringSubmatch(src[:m[0]], -1)
			if len(names) == 0 {
				t.Errorf("%s: permissions without a roleName before them", path)
				continue
			}
			name := names[len(names)-1][1]
			var role string
			for r := range customRoles {
				if strings.HasPrefix(name, r) {
					role = r
				}
			}
			if role == "" {
				t.Errorf("%s defines custom role %q, which the test does not list", path, name)
				continue
			}
			defined[role]++
			// Every quoted string in the permissions is an action (actions,
			// notActions, dataActions), so a grant cannot hide in another list.
			var got []string
			for _, a := range quotedRe.FindAllStringSubmatch(balanced(t, src, m[1], '[', ']'), -1) {
				got = append(got, a[1])
			}
			want := slices.Clone(customRoles[role])
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: role %q grants %v, want exactly %v", path, role, got, want)
			}
		}
	}
	for r := range customRoles {
		if defined[r] != 1 {
			t.Errorf("custom role %q is defined %d times in infra/, want once", r, defined[r])
		}
	}
	if roles < len(builtInRoles) {
		t.Errorf("found %d built-in role ids in infra/: expected every allowed one to be assigned", roles)
	}
}
