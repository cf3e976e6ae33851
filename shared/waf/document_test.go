package waf

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
	"github.com/apiguard/apiguard/shared/fault"
)

func TestParseDocumentRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		kind Kind
		doc  string
		want string
	}{
		{"not JSON", AppGW, `{"properties":`, "not JSON"},
		{"trailing garbage", AppGW, `{} {}`, "not JSON"},
		{"an array", AppGW, `[{"properties":{}}]`, "not a JSON object"},
		{"a string", FrontDoor, `"policy"`, "not a JSON object"},
		{"properties a string", AppGW, `{"type":"Microsoft.Network/applicationGatewayWebApplicationFirewallPolicies","properties":"x"}`, "properties is not an object"},
		{"AppGW customRules an object", AppGW, `{"properties":{"customRules":{"rules":[]}}}`, "a Front Door policy (properties.customRules.rules) given as kind appgw"},
		{"Front Door customRules an array", FrontDoor, `{"properties":{"customRules":[]}}`, "an Application Gateway policy (properties.customRules[]) given as kind frontdoor"},
		{"FD customRules an array despite sku", FrontDoor, `{"sku":{"name":"Premium_AzureFrontDoor"},"properties":{"customRules":[]}}`, "signs of both kinds"},
		{"nothing of a policy", AppGW, `{}`, "not a WAF policy: top-level keys (none)"},
		{"location only", FrontDoor, `{"location":"x","properties":{}}`, "not a WAF policy: top-level keys location, properties; properties holds (none)"},
		{"Front Door rules an object", FrontDoor, `{"properties":{"customRules":{"rules":{}}}}`, "properties.customRules.rules is not an array"},
		{"unknown kind", "cdn", `{}`, "kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseDocument(c.kind, []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if fault.Of(err) != fault.Reject || fault.StatusOf(err) != 400 {
				t.Errorf("disposition %v status %d, want a 400 rejection", fault.Of(err), fault.StatusOf(err))
			}
		})
	}
}

// Absent or null containers are created on write, in the document's layout; removing
// nothing gives back the original bytes, and removing ours takes away what was created
// for them (removed), unless the document needs it to be told apart as a policy.
func TestParseDocumentCreatesContainers(t *testing.T) {
	rule := Rule{Name: "apiguard001", Priority: 50, Action: "Block", Values: []string{"192.0.2.1"}}
	const appgw = `"type":"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies"`
	for _, c := range []struct {
		kind          Kind
		doc           string
		want, removed string // removed: "" for the original document
	}{
		{AppGW, `{` + appgw + `}`, `{` + appgw + `,"properties":{"customRules":[@R@]}}`, ""},
		{AppGW, ` { "location" : "x" , "type" : "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies" } `,
			` { "location" : "x" , "type" : "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies" , "properties" : {"customRules" : [@R@]} } `, ""},
		{FrontDoor, `{"sku":{},"properties":null}`, `{"sku":{},"properties":{"customRules":{"rules":[@R@]}}}`, `{"sku":{}}`},
		{FrontDoor, `{"sku":{},"properties":{ }}`, `{"sku":{},"properties":{"customRules":{"rules":[@R@]}}}`, `{"sku":{}}`},
		{AppGW, `{"properties":{"customRules":null,"policySettings":{"state":"Enabled"}}}`, `{"properties":{"customRules":[@R@],"policySettings":{"state":"Enabled"}}}`,
			`{"properties":{"customRules":[],"policySettings":{"state":"Enabled"}}}`},
		{AppGW, `{"properties":{"customRules":[ ]}}`, `{"properties":{"customRules":[@R@]}}`, `{"properties":{"customRules":[]}}`},
		{AppGW, `{"properties":{"customRules":[]}}`, `{"properties":{"customRules":[@R@]}}`, ""},
		{FrontDoor, `{"properties":{"policySettings":{"enabledState":"Enabled"}}}`, `{"properties":{"policySettings":{"enabledState":"Enabled"},"customRules":{"rules":[@R@]}}}`, ""},
		{FrontDoor, `{"properties":{"customRules":{}}}`, `{"properties":{"customRules":{"rules":[@R@]}}}`, `{"properties":{"customRules":{"rules":[]}}}`},
		{FrontDoor, `{"properties":{"customRules":{"rules":null}}}`, `{"properties":{"customRules":{"rules":[@R@]}}}`, `{"properties":{"customRules":{"rules":[]}}}`},
		{FrontDoor, "{\n  \"sku\": {}\n}\n", "{\n  \"sku\": {},\n  \"properties\": {\n    \"customRules\": {\n      \"rules\": [\n        @R@\n      ]\n    }\n  }\n}\n", ""},
	} {
		opts := Options{Kind: c.kind}.WithDefaults()
		rule.MatchVariable = opts.MatchVariable
		doc, err := ParseDocument(c.kind, []byte(c.doc))
		if err != nil {
			t.Fatalf("%s: %v", c.doc, err)
		}
		if len(doc.Owned(opts)) != 0 || len(doc.CustomerRules()) != 0 || doc.Budget(opts).Rules != 50 {
			t.Errorf("%s: not empty", c.doc)
		}
		out, err := doc.WithOwned(opts, []Rule{rule})
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := doc.encodeRule(rule)
		enc = doc.style.format(enc, "        ")
		if want := strings.Replace(c.want, "@R@", string(enc), 1); string(out) != want {
			t.Errorf("%s:\n got %s\nwant %s", c.doc, out, want)
		}
		same, err := doc.WithOwned(opts, nil)
		if err != nil || string(same) != c.doc {
			t.Errorf("%s: removing nothing gave %s, %v", c.doc, same, err)
		}
		back, err := ParseDocument(c.kind, out)
		if err != nil || !EqualRules(back.Owned(opts), []Rule{rule}) {
			t.Fatalf("%s: read back %v", c.doc, err)
		}
		want := c.removed
		if want == "" {
			want = c.doc
		}
		if empty, _ := back.WithOwned(opts, nil); string(empty) != want {
			t.Errorf("%s: removing ours gave %s, want %s", c.doc, empty, want)
		}
	}
}

// Owned rules are read into canonical form; anything apiguard would not have written
// is Malformed, so the rule never equals a wanted one and gets replaced.
func TestOwnedCanonicalAndMalformed(t *testing.T) {
	const ok = `{"name":"apiguard001","priority":50,"ruleType":"MatchRule","state":"Enabled","action":"Block","matchConditions":[{"matchVariables":[{"variableName":"RemoteAddr","selector":null}],"operator":"IPMatch","negationConditon":false,"matchValues":[VALUES],"transforms":[]}],"etag":"W/\"1\""}`
	want := Rule{Name: "apiguard001", Priority: 50, Action: "Block", MatchVariable: "RemoteAddr",
		Values: []string{"10.0.0.0/24", "192.0.2.1", "2001:db8::1"}}
	for _, c := range []struct {
		name, rule, malformed string
	}{
		{"canonical already", strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), ""},
		{"other spellings and order", strings.Replace(ok, "VALUES", `"2001:DB8:0::1/128"," 192.0.2.1/32","10.0.0.9/24","192.0.2.1"`, 1), ""},
		{"no state is Enabled", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"state":"Enabled",`, "", 1), ""},
		{"disabled", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"Enabled"`, `"Disabled"`, 1), `state "Disabled"`},
		{"negated", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"negationConditon":false`, `"negationConditon":true`, 1), "negated"},
		{"transforms", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"transforms":[]`, `"transforms":["Lowercase"]`, 1), "transforms"},
		{"rate limit", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"MatchRule"`, `"RateLimitRule"`, 1), "ruleType"},
		{"not an address", strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1","null192.0.2.2"`, 1), "not addresses: null192.0.2.2"},
		{"two conditions", strings.Replace(strings.Replace(ok, "VALUES", `"10.0.0.0/24","192.0.2.1","2001:db8::1"`, 1), `"transforms":[]}]`, `"transforms":[]},{"operator":"Any"}]`, 1), "2 match conditions"},
		{"wrong types", `{"name":"apiguard001","priority":"50","matchConditions":"x"}`, "priority is not an integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, err := ParseDocument(AppGW, []byte(`{"properties":{"customRules":[`+c.rule+`]}}`))
			if err != nil {
				t.Fatal(err)
			}
			got := doc.Owned(Options{Kind: AppGW})
			if len(got) != 1 {
				t.Fatalf("owned %+v", got)
			}
			if c.malformed == "" {
				if !EqualRules(got, []Rule{want}) {
					t.Errorf("got %+v, want %+v", got[0], want)
				}
				return
			}
			if !strings.Contains(got[0].Malformed, c.malformed) || EqualRules(got, []Rule{want}) {
				t.Errorf("Malformed = %q, want it to say %q", got[0].Malformed, c.malformed)
			}
		})
	}
}

// Ownership is the name prefix, case-insensitively, wherever the rule sits; a rule
// without a string name is the customer's.
func TestOwnership(t *testing.T) {
	doc, err := ParseDocument(FrontDoor, []byte(`{"properties":{"customRules":{"rules":[
		{"name":"APIGUARD007","priority":3},{"name":"apiguard","priority":200},{"name":"apiguar","priority":60},
		{"name":7,"priority":61},{"priority":62},"junk",{"name":"Edge001","priority":63}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Kind: FrontDoor}
	var names []string
	for _, r := range doc.Owned(opts) {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"APIGUARD007", "apiguard"}) {
		t.Errorf("owned %v", names)
	}
	if n := len(doc.CustomerRules()); n != 5 {
		t.Errorf("%d customer rules", n)
	}
	if n := len(doc.Customer(Options{Kind: FrontDoor, NamePrefix: "Edge"})); n != 6 {
		t.Errorf("%d customer rules under prefix Edge", n)
	}
	b := doc.Budget(opts)
	if b.Rules != 46 || slices.Contains(b.Priorities, 60) || slices.Contains(b.Priorities, 63) || !slices.Contains(b.Priorities, 64) {
		t.Errorf("budget %+v", b)
	}
	if _, err := doc.WithOwned(opts, []Rule{{Name: "Mine001", Priority: 70}}); fault.Of(err) != fault.Reject {
		t.Errorf("a rule without the prefix was written: %v", err)
	}
}

// The live document's key order and whitespace never cause a write, and an unchanged
// Change hands back the input bytes themselves.
func TestComputeIgnoresFormatting(t *testing.T) {
	opts := Options{Kind: FrontDoor, Now: t0}
	entries := cidrtest.Mixed(3000, 9, t0)
	first, err := Compute(opts, []byte(`{"properties":{"customRules":{"rules":[{"name":"Keep","priority":1}]}}}`), entries)
	if err != nil || !first.Changed {
		t.Fatal(first.Changed, err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, first.Doc, "\t", "    "); err != nil {
		t.Fatal(err)
	}
	// Reorder keys too: a round trip through a map sorts them.
	var m any
	_ = json.Unmarshal(first.Doc, &m)
	sorted, _ := json.Marshal(m)
	for _, live := range [][]byte{indented.Bytes(), sorted} {
		again, err := Compute(opts, live, entries)
		if err != nil {
			t.Fatal(err)
		}
		if again.Changed || !bytes.Equal(again.Doc, live) || again.Added != nil || again.Removed != nil {
			t.Errorf("a reformatted policy caused a write: changed %v, +%d -%d", again.Changed, len(again.Added), len(again.Removed))
		}
	}
	// An expiry passing changes the rules.
	later := opts
	later.Now = t0.Add(8 * 24 * time.Hour)
	gone, err := Compute(later, first.Doc, entries)
	if err != nil || !gone.Changed || len(gone.After) != 0 || len(gone.Removed) == 0 || gone.Plan.Expired != len(entries) {
		t.Fatalf("after every expiry: changed %v, %d rules, %v", gone.Changed, len(gone.After), err)
	}
}

func TestComputeRejectsBadOptions(t *testing.T) {
	_, err := Compute(Options{Kind: AppGW, PriorityEnd: 150, MaxValues: 700, Action: "Allow"}, []byte(`{}`), nil)
	if fault.Of(err) != fault.Reject {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"1-100", "max values 700", `action "Allow"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
	if _, err := Compute(Options{Kind: AppGW}, []byte(`[]`), nil); fault.Of(err) != fault.Reject {
		t.Errorf("a bad document: %v", err)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

const fixtureDir = "../../../shared/fixtures/waf-policies"

// policyDoc is one policy document found inside a fixture file, verbatim.
type policyDoc struct {
	where string
	kind  Kind
	raw   []byte
}

// findPolicies walks a JSON value for policy documents: objects whose properties hold
// customRules. The kind follows from customRules' shape.
func findPolicies(where string, raw json.RawMessage, out *[]policyDoc) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		var props map[string]json.RawMessage
		if json.Unmarshal(m["properties"], &props) == nil {
			if cr := bytes.TrimSpace(props["customRules"]); len(cr) > 0 {
				kind := AppGW
				if cr[0] == '{' {
					kind = FrontDoor
				}
				*out = append(*out, policyDoc{where: where, kind: kind, raw: raw})
				return
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			findPolicies(where+"."+k, m[k], out)
		}
	case '[':
		var a []json.RawMessage
		if json.Unmarshal(raw, &a) != nil {
			return
		}
		for _, v := range a {
			findPolicies(where+"[]", v, out)
		}
	}
}

func fixturePolicies(tb testing.TB) []policyDoc {
	tb.Helper()
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if len(paths) == 0 {
		tb.Skipf("no WAF policy fixtures in %s: the real published examples are not checked out here", fixtureDir)
	}
	var docs []policyDoc
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		findPolicies(filepath.Base(p), b, &docs)
	}
	if len(docs) == 0 {
		tb.Fatalf("no policy document found in %s", fixtureDir)
	}
	return docs
}

// withoutOwned is the document as any, with rules named by the prefix taken out of
// the custom rules: what the customer sees of a policy apiguard writes to.
func withoutOwned(t *testing.T, kind Kind, doc []byte) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	props, _ := m["properties"].(map[string]any)
	holder, key := props, "customRules"
	if kind == FrontDoor {
		holder, key = props["customRules"].(map[string]any), "rules"
	}
	rules, _ := holder[key].([]any)
	var kept []any
	for _, r := range rules {
		if name, _ := r.(map[string]any)["name"].(string); !strings.HasPrefix(strings.ToLower(name), "apiguard") {
			kept = append(kept, r)
		}
	}
	holder[key] = kept
	return m
}

// Every real policy example survives adding and removing apiguard's rules: the
// customer's rules are untouched while ours are present, and removing ours gives back
// the original document.
func TestFixtureRoundTrip(t *testing.T) {
	entries := []Entry{
		{Prefix: netip.MustParsePrefix("45.153.160.140/32"), Severity: 3, Expires: t0.Add(time.Hour), Forwarded: true},
		{Prefix: netip.MustParsePrefix("45.153.160.141/32"), Severity: 2, Expires: t0.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Severity: 2, Expires: t0.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("2001:db8::7/128"), Severity: 1, Expires: t0.Add(time.Hour)},
	}
	for _, pd := range fixturePolicies(t) {
		t.Run(pd.where, func(t *testing.T) {
			opts := Options{Kind: pd.kind, Now: t0}.WithDefaults()
			doc, err := ParseDocument(pd.kind, pd.raw)
			if err != nil {
				t.Fatal(err)
			}
			customers := doc.CustomerRules()
			if len(customers) == 0 {
				t.Fatal("the example has customer rules; none found")
			}
			add, err := Compute(opts, pd.raw, entries)
			if err != nil || !add.Changed || len(add.After) == 0 {
				t.Fatalf("add: %+v %v", add.After, err)
			}
			withOurs, err := ParseDocument(pd.kind, add.Doc)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRaw(withOurs.CustomerRules(), customers) {
				t.Error("customer rules changed while ours are present")
			}
			if !EqualRules(withOurs.Owned(opts), add.After) {
				t.Error("our rules do not read back")
			}
			if !reflect.DeepEqual(withoutOwned(t, pd.kind, add.Doc), withoutOwned(t, pd.kind, pd.raw)) {
				t.Error("something besides the owned rules changed")
			}
			remove, err := Compute(opts, add.Doc, nil)
			if err != nil || !remove.Changed || len(remove.Removed) == 0 {
				t.Fatalf("remove: %v", err)
			}
			if !jsonEqual(t, remove.Doc, pd.raw) {
				t.Errorf("adding then removing our rules changed the policy:\n%s", remove.Doc)
			}
		})
	}
}

// The Front Door example has two customer rules at priority 1 (Rule1 and Rule3):
// both are kept, both count against the rule limit, and the priority is taken once.
func TestFixtureDuplicatePriorities(t *testing.T) {
	var dup *policyDoc
	for _, pd := range fixturePolicies(t) {
		doc, err := ParseDocument(pd.kind, pd.raw)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]int{}
		for i := range doc.elems {
			seen[doc.elems[i].priority]++
		}
		if seen[1] > 1 {
			dup = &pd
			break
		}
	}
	if dup == nil {
		t.Skip("no fixture with duplicate priorities")
	}
	opts := Options{Kind: dup.kind, PriorityStart: 1, PriorityEnd: 10}.WithDefaults()
	doc, _ := ParseDocument(dup.kind, dup.raw)
	n := len(doc.CustomerRules())
	b := doc.Budget(opts)
	if b.Rules != 8 || b.Priorities[0] != 3 || b.Rules > 100-n {
		t.Errorf("%s: %d customer rules, budget %+v", dup.where, n, b)
	}
	out, err := doc.WithOwned(opts, Pack([]Entry{{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Expires: t0.Add(time.Hour)}}, opts, b).Rules)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := ParseDocument(dup.kind, out)
	if !equalRaw(back.CustomerRules(), doc.CustomerRules()) || back.Owned(opts)[0].Priority != 3 {
		t.Errorf("duplicates not kept or priority reused: %s", out)
	}
}

func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"properties":null}`, `{"properties":{"customRules":[]}}`, `{"properties":{"customRules":{"rules":[]}}}`,
		`{"properties":{"customRules":[{"name":"apiguard001","priority":50},{"name":"Cust","priority":1},7,null]}}`,
		`{"properties":{"customRules":{"rules":[{"name":"ApiGuard2","priority":"x"},{"name":"A\u0070iguard3"},{"name":"keep"}]}},"properties":{}}`,
		` [1] `, `"x"`, `{"a":[{"b":"}]\"{"}],"properties":{"customRules":[ {"name":"c"} , {"name":"d"} ]}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "cases", "*.policy.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, strings.Contains(p, "frontdoor"))
		}
	}
	// Refusals and templates: each case under both kinds.
	paths, _ = filepath.Glob(filepath.Join("testdata", "documents", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
			f.Add(b, true)
		}
	}
	for _, s := range []string{
		`{"$schema":"x/deploymentTemplate.json#","resources":[{"type":"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies","properties":{"customRules":[ {"name":"a","priority":1} ]}}]}`,
		`{"contentVersion":"1","resources":{"p":{"type":"microsoft.network/frontdoorwebapplicationfirewallpolicies","properties":{}}}}`,
		"{\r\n\t\"sku\": {},\r\n\t\"properties\": {\r\n\t\t\"customRules\": {\"rules\": [ ]}\r\n\t}\r\n}",
		`{"type":"Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies" , "properties" : { "customRules" : null }}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	if paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json")); len(paths) > 0 {
		var docs []policyDoc
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			findPolicies(p, b, &docs)
		}
		for _, d := range docs {
			f.Add(d.raw, d.kind == FrontDoor)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, frontDoor bool) {
		kind := AppGW
		if frontDoor {
			kind = FrontDoor
		}
		opts := Options{Kind: kind}.WithDefaults()
		doc, err := ParseDocument(kind, data)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Disposition != fault.Reject {
				t.Fatalf("error without a rejection: %v", err)
			}
			return
		}
		customers := doc.CustomerRules()
		doc.Owned(opts)
		doc.Budget(opts)

		cleared, err := doc.WithOwned(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseDocument(kind, cleared)
		if err != nil {
			t.Fatalf("WithOwned wrote a document that does not parse: %v\n%s", err, cleared)
		}
		if !equalRaw(again.CustomerRules(), customers) {
			t.Fatalf("a customer rule was lost:\n%s\n%s", data, cleared)
		}
		if len(again.Owned(opts)) != 0 {
			t.Fatalf("owned rules left: %s", cleared)
		}

		ours := []Rule{{Name: "apiguard001", Priority: 50, Action: "Block", MatchVariable: opts.MatchVariable, Values: []string{"192.0.2.1"}}}
		added, err := doc.WithOwned(opts, ours)
		if err != nil {
			t.Fatal(err)
		}
		withOurs, err := ParseDocument(kind, added)
		if err != nil || !json.Valid(added) {
			t.Fatalf("adding a rule broke the document: %v\n%s", err, added)
		}
		if !equalRaw(withOurs.CustomerRules(), customers) || !EqualRules(withOurs.Owned(opts), ours) {
			t.Fatalf("after adding: customers %d->%d, owned %+v\n%s", len(customers), len(withOurs.CustomerRules()), withOurs.Owned(opts), added)
		}
		if withOurs.policyAt != doc.policyAt || withOurs.template != doc.template {
			t.Fatalf("the rules went to another object (%d, was %d)", withOurs.policyAt, doc.policyAt)
		}
		removed, err := withOurs.WithOwned(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseDocument(kind, removed); err != nil {
			t.Fatalf("removing our rule broke the document: %v\n%s", err, removed)
		}
		if len(doc.Owned(opts)) == 0 && exactUndo(doc) && !bytes.Equal(removed, data) {
			t.Fatalf("adding then removing our rule changed the bytes:\n%q\n%q", data, removed)
		}
	})
}

// exactUndo says whether adding and then removing the owned rules must give back the
// very bytes: always when the rules array holds something of the customer's, and when
// apiguard creates customRules (or properties) itself. An empty or null container
// apiguard found cannot be told from one it created once it holds rules, so those come
// back as [] (or go, when last in properties), the same policy in other bytes.
func exactUndo(d *Document) bool {
	s := d.slot
	switch {
	case s.exists:
		return len(d.elems) > 0
	case s.null:
		return false
	case s.depth == 0:
		return true
	case s.depth == 1:
		ms, _, _ := object(d.data, d.policyAt)
		p, _ := lastMember(ms, "properties")
		props, _, _ := object(d.data, p.start)
		return len(props) > 0
	}
	return false
}
