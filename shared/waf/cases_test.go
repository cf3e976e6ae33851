package waf

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr/cidrtest"
)

var update = flag.Bool("update", false, "rewrite testdata/cases/*.golden.json from the current output")

// t0 is the clock of every case: entries say how long they have left ("ttl").
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// packCase is one testdata/cases/<name>.json: entries packed for a policy kind, either
// into a given budget or into the policy file <name>.policy.json through Compute.
type packCase struct {
	name    string
	Note    string               `json:"note"`
	Options Options              `json:"options"` // Kind and any overrides; Now is t0
	Budget  *Budget              `json:"budget"`  // default: what an empty policy leaves
	Entries []cidrtest.CaseEntry `json:"entries"`
	policy  []byte               // <name>.policy.json, when present
}

func (c *packCase) entries(tb testing.TB) []Entry {
	es := make([]Entry, len(c.Entries))
	for i, e := range c.Entries {
		var err error
		if es[i], err = e.Entry(t0); err != nil {
			tb.Fatal(err)
		}
	}
	return es
}

func (c *packCase) options() Options {
	o := c.Options
	o.Now = t0
	return o.WithDefaults()
}

func loadPackCases(tb testing.TB) []*packCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []*packCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") || strings.HasSuffix(p, ".policy.json") {
			continue
		}
		c := &packCase{name: strings.TrimSuffix(filepath.Base(p), ".json")}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		if pb, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".policy.json"); err == nil {
			c.policy = pb
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		tb.Fatal("no cases in testdata/cases")
	}
	return cases
}

// golden compares got with testdata/<dir>/<name>, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./shared/waf -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update once the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func indentJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(b, '\n')
}

// TestPackGolden packs every case. Cases with a policy go through Compute, and the
// document written is a golden file of its own, byte for byte.
func TestPackGolden(t *testing.T) {
	for _, c := range loadPackCases(t) {
		t.Run(c.name, func(t *testing.T) {
			opts := c.options()
			if err := opts.Validate(); err != nil {
				t.Fatalf("case options: %v", err)
			}
			base := filepath.Join("testdata", "cases", c.name)
			if c.policy == nil {
				budget := (&Document{kind: opts.Kind}).Budget(opts)
				if c.Budget != nil {
					budget = *c.Budget
				}
				plan := Pack(c.entries(t), opts, budget)
				checkPlan(t, opts, budget, plan)
				golden(t, base+".golden.json", indentJSON(t, plan))
				return
			}
			ch, err := Compute(opts, c.policy, c.entries(t))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ParseDocument(opts.Kind, c.policy)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, opts, doc.Budget(opts), ch.Plan)
			golden(t, base+".golden.json", indentJSON(t, struct {
				Changed bool
				Before  []Rule
				Added   []string
				Removed []string
				Plan    Plan
			}{ch.Changed, ch.Before, ch.Added, ch.Removed, ch.Plan}))
			golden(t, base+".doc.golden.json", ch.Doc)
			checkWritten(t, opts, c.policy, ch)
		})
	}
}

// checkPlan asserts what holds for every plan, whatever the golden file says.
func checkPlan(t *testing.T, opts Options, budget Budget, plan Plan) {
	t.Helper()
	if len(plan.Rules) > budget.Rules {
		t.Errorf("%d rules for a budget of %d", len(plan.Rules), budget.Rules)
	}
	for i, r := range plan.Rules {
		if len(r.Values) == 0 || len(r.Values) > opts.MaxValues {
			t.Errorf("rule %s holds %d values (max %d)", r.Name, len(r.Values), opts.MaxValues)
		}
		if r.Priority != budget.Priorities[i] || !strings.HasPrefix(r.Name, opts.NamePrefix) || r.Action != opts.Action {
			t.Errorf("rule %d: %+v", i, r)
		}
		v6 := strings.Contains(r.Values[0], ":")
		for _, v := range r.Values {
			if strings.Contains(v, ":") != v6 {
				t.Errorf("rule %s mixes IPv4 and IPv6", r.Name)
			}
		}
	}
	for _, e := range plan.Evicted {
		if e.Reason == "" {
			t.Errorf("eviction of %s without a reason", e.Prefix)
		}
	}
}

// checkWritten reads the written document back: the owned rules are the ones wanted
// and the customer's rules are the same bytes in the same order.
func checkWritten(t *testing.T, opts Options, policy []byte, ch Change) {
	t.Helper()
	back, err := ParseDocument(opts.Kind, ch.Doc)
	if err != nil {
		t.Fatalf("written document does not parse: %v\n%s", err, ch.Doc)
	}
	if !EqualRules(back.Owned(opts), ch.After) {
		t.Errorf("owned rules read back differ:\n%+v\n%+v", back.Owned(opts), ch.After)
	}
	orig, _ := ParseDocument(opts.Kind, policy)
	if !equalRaw(orig.Customer(opts), back.Customer(opts)) {
		t.Error("customer rules changed")
	}
}

func equalRaw(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
