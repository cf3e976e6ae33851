package alert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// fixtureDir holds real published examples (ARM REST examples, the SecurityAlert
// schema, a workflow automation playbook). They live outside the repository and are
// read only; the tests skip when they are not there.
const fixtureDir = "../../../shared/fixtures/defender-alerts"

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("real Defender fixtures not available at %s: %v", fixtureDir, err)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// dig walks a generic JSON document by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// The ARM REST examples decode to what they say, read independently of the decoder.
func TestFixtureARMExamples(t *testing.T) {
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("real Defender fixtures not available at %s: %v", fixtureDir, err)
	}
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*example*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ARM examples in %s (%v)", fixtureDir, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			body := dig(fixture(t, filepath.Base(p)), "responses", "200", "body")
			if body == nil {
				t.Fatal("no responses.200.body")
			}
			alerts := []any{body}
			if items, ok := dig(body, "value").([]any); ok {
				alerts = items
			}
			for i, a := range alerts {
				raw, err := json.Marshal(a)
				if err != nil {
					t.Fatal(err)
				}
				b, err := Decode(raw, nil)
				if err != nil {
					t.Fatalf("alert %d: %v", i, err)
				}
				if len(b.Incidents) != 1 {
					t.Fatalf("alert %d: %d incidents", i, len(b.Incidents))
				}
				inc := b.Incidents[0]
				props := dig(a, "properties")
				if inc.Shape != ShapeARM {
					t.Errorf("shape %q, want arm", inc.Shape)
				}
				if want := dig(props, "alertType"); inc.AlertType != want {
					t.Errorf("alertType %q, want %v", inc.AlertType, want)
				}
				if want := dig(props, "systemAlertId"); inc.SystemAlertID != want {
					t.Errorf("systemAlertId %q, want %v", inc.SystemAlertID, want)
				}
				if want := dig(props, "severity"); string(inc.Severity) != want {
					t.Errorf("severity %q, want %v", inc.Severity, want)
				}
				var wantIPs []string
				for _, e := range dig(props, "entities").([]any) {
					if strings.EqualFold(dig(e, "type").(string), "ip") {
						wantIPs = append(wantIPs, dig(e, "address").(string))
					}
				}
				var gotIPs []string
				for _, ad := range inc.Addresses {
					gotIPs = append(gotIPs, ad.IP.String())
					if ad.Source != SourceEntity {
						t.Errorf("address %v from %q, want entity", ad.IP, ad.Source)
					}
				}
				if len(wantIPs) == 0 || !slices.Equal(gotIPs, wantIPs) {
					t.Errorf("addresses %v, want %v", gotIPs, wantIPs)
				}
				if start, _ := time.Parse(time.RFC3339Nano, dig(props, "startTimeUtc").(string)); !inc.StartTime.Equal(start) {
					t.Errorf("start %v, want %v", inc.StartTime, start)
				}
				for _, ri := range dig(props, "resourceIdentifiers").([]any) {
					if id, ok := dig(ri, "azureResourceId").(string); ok && !slices.Contains(inc.ResourceIDs, id) {
						t.Errorf("resource ids %v lack %s", inc.ResourceIDs, id)
					}
				}
			}
		})
	}
}

// An export-shaped alert built from the SecurityAlert schema's own property names and
// examples decodes as the export shape, field by field.
func TestFixtureSecurityAlertSchema(t *testing.T) {
	schema := fixture(t, "SecurityAlert.workflow-automation.schema.json")
	props, _ := dig(schema, "properties").(map[string]any)
	if len(props) == 0 {
		t.Fatal("schema has no properties")
	}
	alert := map[string]any{}
	for name, p := range props {
		if ex, ok := dig(p, "examples").([]any); ok && len(ex) > 0 {
			alert[name] = ex[0]
		}
	}
	// The schema lists no examples for these; give them the documented forms.
	alert["Entities"] = []any{map[string]any{"$id": "1", "Type": "ip", "Address": "45.153.160.140"}}
	alert["ExtendedProperties"] = map[string]any{"Process Path": `c:\temp\svchost.exe`, "PID": 944}
	raw, _ := json.Marshal(alert)

	inc := decodeOne(t, raw, nil)
	ex := func(name string) string {
		s, _ := dig(props, name, "examples").([]any)[0].(string)
		return s
	}
	if inc.Shape != ShapeExport {
		t.Errorf("shape %q, want export", inc.Shape)
	}
	checks := []struct{ field, got, want string }{
		{"AlertType", inc.AlertType, ex("AlertType")},
		{"SystemAlertId", inc.SystemAlertID, ex("SystemAlertId")},
		{"Severity", string(inc.Severity), ex("Severity")},
		{"AlertDisplayName", inc.DisplayName, ex("AlertDisplayName")},
		{"Status", inc.Status, ex("Status")},
		{"ProductName", inc.ProductName, ex("ProductName")},
		{"CompromisedEntity", inc.Compromised, ex("CompromisedEntity")},
	}
	for _, c := range checks {
		if c.want == "" || c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	for field, got := range map[string]time.Time{"StartTimeUtc": inc.StartTime, "EndTimeUtc": inc.EndTime, "TimeGenerated": inc.GeneratedTime} {
		want, err := time.Parse(time.RFC3339Nano, ex(field))
		if err != nil || !got.Equal(want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	if !slices.Contains(inc.ResourceIDs, ex("AzureResourceId")) {
		t.Errorf("resource ids %v lack AzureResourceId %s", inc.ResourceIDs, ex("AzureResourceId"))
	}
	if len(inc.Addresses) != 1 || inc.Addresses[0].IP.String() != "45.153.160.140" {
		t.Errorf("addresses %v", inc.Addresses)
	}
}

// The workflow automation playbook parses the trigger body with a schema: a body made
// of that schema's field names (camelCase, timeGenerated, remediationSteps as a string,
// the "client IP address" extended property) decodes as the workflow shape.
func TestFixtureWorkflowTriggerBody(t *testing.T) {
	doc := fixture(t, "workflow-automation_BlockBruteforceAttack.azuredeploy.json")
	var schema any
	var find func(v any)
	find = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["Parse_alert_body"]; ok && schema == nil {
				schema = dig(p, "inputs", "schema", "properties", "body", "properties")
			}
			for _, c := range v {
				find(c)
			}
		case []any:
			for _, c := range v {
				find(c)
			}
		}
	}
	find(doc)
	fields, ok := schema.(map[string]any)
	if !ok {
		t.Fatal("playbook has no Parse_alert_body schema")
	}
	need := func(name string) string {
		if _, ok := fields[name]; !ok {
			t.Fatalf("trigger schema has no %q", name)
		}
		return name
	}
	ipKey := "client IP address"
	if _, ok := dig(fields, "extendedProperties", "properties", ipKey).(map[string]any); !ok {
		t.Fatalf("trigger schema's extendedProperties has no %q", ipKey)
	}
	body := map[string]any{
		need("systemAlertId"):      "2518298467986649999_4d25bfef-2d77-4a08-adc0-3e35715cc92a",
		need("alertDisplayName"):   "Suspected brute force attack",
		need("severity"):           "High",
		need("status"):             "Active",
		need("startTimeUtc"):       "2026-01-01T05:40:00.0000000Z",
		need("endTimeUtc"):         "2026-01-01T05:59:58.0000000Z",
		need("timeGenerated"):      "2026-01-01T06:00:00.0000000Z",
		need("remediationSteps"):   "Block the address.",
		need("compromisedEntity"):  "sql1",
		need("entities"):           []any{map[string]any{"$id": "1", "type": "host", "hostName": "sql1"}},
		need("extendedProperties"): map[string]any{ipKey: "45.153.160.140", "client principal name": "sa"},
	}
	raw, _ := json.Marshal(body)
	inc := decodeOne(t, raw, nil)
	if inc.Shape != ShapeWorkflow || inc.Severity != vocab.SeverityHigh || inc.SystemAlertID != body["systemAlertId"] || inc.DisplayName != body["alertDisplayName"] {
		t.Errorf("got %+v", inc)
	}
	if inc.GeneratedTime.IsZero() || inc.StartTime.IsZero() || inc.EndTime.IsZero() {
		t.Errorf("times not read: %+v", inc)
	}
	if len(inc.Addresses) != 1 || inc.Addresses[0].IP.String() != "45.153.160.140" || inc.Addresses[0].Source != SourceExtendedProperties {
		t.Errorf("addresses %v", inc.Addresses)
	}
}
