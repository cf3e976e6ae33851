package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/waf"
)

var quiet = zerolog.New(os.Stderr).Level(zerolog.Disabled)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// memDesired is an in-memory desired state; the Table Storage one is exercised end to
// end in handlers.
type memDesired struct {
	mu     sync.Mutex
	blocks []record.Block
}

func (m *memDesired) ListBlocks(_ context.Context, action string) ([]record.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []record.Block
	for _, b := range m.blocks {
		if b.Action == action {
			out = append(out, b)
		}
	}
	return out, nil
}

type memAudit struct{ events []record.AuditEvent }

func (m *memAudit) AppendAudit(_ context.Context, ev []record.AuditEvent) error {
	m.events = append(m.events, ev...)
	return nil
}

func block(target, severity string, expires time.Time) record.Block {
	return record.Block{Action: "block_waf", Target: target, Severity: severity, Expires: expires, Mode: "enforce", SourceIncident: "inc-" + target}
}

func frontDoorTarget(t *testing.T, file string) config.WAFTarget {
	t.Helper()
	return config.WAFTarget{File: file, Kind: "frontdoor", Prefix: "apiguard", PriorityStart: 50, PriorityEnd: 99, MaxValues: 600}
}

func newReconciler(t *testing.T, b Backend, d Desired, a Auditor) (*WAFReconciler, *[]time.Duration) {
	var slept []time.Duration
	return &WAFReconciler{
		Key: "test", Options: WAFOptions(frontDoorTarget(t, "x")), Backend: b, Desired: d, Audit: a,
		Now:   func() time.Time { return t0 },
		Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
		Guard: decide.NewGuard(nil),
	}, &slept
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func copyFixture(t *testing.T) (string, []byte) {
	t.Helper()
	orig, err := os.ReadFile("testdata/frontdoor-customer.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, orig
}

func customerRules(t *testing.T, doc []byte) string {
	t.Helper()
	var d struct {
		Properties struct {
			CustomRules struct {
				Rules []map[string]any `json:"rules"`
			} `json:"customRules"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var keep []map[string]any
	for _, r := range d.Properties.CustomRules.Rules {
		if !strings.HasPrefix(strings.ToLower(r["name"].(string)), "apiguard") {
			keep = append(keep, r)
		}
	}
	b, _ := json.Marshal(keep)
	return string(b)
}

// Blocks go in, only owned rules change, an unchanged set writes nothing, and removing
// the blocks gives back the original policy (undo).
func TestReconcileFileRoundTrip(t *testing.T) {
	path, orig := copyFixture(t)
	desired := &memDesired{blocks: []record.Block{
		block("45.153.160.140", "High", t0.Add(time.Hour)),
		block("45.153.160.141", "Medium", t0.Add(time.Hour)),
		block("2a01:111:f400::1", "Low", t0.Add(time.Hour)),
		block("45.153.170.0/24", "Medium", t0.Add(time.Hour)),
	}}
	audit := &memAudit{}
	r, _ := newReconciler(t, NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), desired, audit)

	res, err := r.Reconcile(t.Context(), quiet)
	if err != nil || !res.Wrote || res.Values != 3 { // .140 and .141 aggregate into a /31
		t.Fatalf("first reconcile: %+v %v", res, err)
	}
	now, _ := os.ReadFile(path)
	if customerRules(t, now) != customerRules(t, orig) {
		t.Error("customer rules changed")
	}
	if !strings.Contains(string(now), "someFutureSetting") || !strings.Contains(string(now), "managedRules") {
		t.Error("fields apiguard does not own were lost")
	}
	for _, v := range []string{"45.153.160.140/31", "2a01:111:f400::1", "45.153.170.0/24", `"SocketAddr"`} {
		if !strings.Contains(string(now), v) {
			t.Errorf("policy lacks %s", v)
		}
	}
	if len(audit.events) != 1 || audit.events[0].Kind != "waf.reconciled" {
		t.Fatalf("audit %+v", audit.events)
	}
	var detail struct {
		Before    *string             `json:"etag_before"`
		After     string              `json:"etag_after"`
		RulesB    []waf.Rule          `json:"rules_before"`
		RulesA    []waf.Rule          `json:"rules_after"`
		Added     []string            `json:"added"`
		Incidents map[string][]string `json:"incidents"`
	}
	if err := json.Unmarshal(audit.events[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.After != res.ETag || len(detail.RulesB) != 0 || len(detail.RulesA) != 2 || len(detail.Added) != 3 ||
		strings.Join(detail.Incidents["45.153.160.140/31"], ",") != "inc-45.153.160.140,inc-45.153.160.141" {
		t.Errorf("audit detail %s", audit.events[0].Detail)
	}

	res, err = r.Reconcile(t.Context(), quiet)
	if err != nil || res.Wrote {
		t.Fatalf("unchanged set wrote: %+v %v", res, err)
	}

	desired.blocks = nil
	if res, err = r.Reconcile(t.Context(), quiet); err != nil || !res.Wrote || len(res.Removed) != 3 {
		t.Fatalf("undo: %+v %v", res, err)
	}
	back, _ := os.ReadFile(path)
	if !bytes.Equal(back, orig) {
		t.Errorf("after removing every block the policy differs from the original bytes:\n%s", back)
	}
}

// A file target holding something that is not a policy of its kind is refused with
// what it holds, and the file is left alone; an ARM template with one policy of the
// kind is edited in place.
func TestReconcileFileDocuments(t *testing.T) {
	desired := &memDesired{blocks: []record.Block{block("45.153.160.140", "High", t0.Add(time.Hour))}}
	for _, c := range []struct {
		name, doc, refused string
	}{
		{"package.json", `{"name": "site", "version": "1.0.0", "dependencies": {}}`, "not a WAF policy: top-level keys name, version, dependencies"},
		{"Application Gateway policy", `{"properties": {"customRules": []}}`, "an Application Gateway policy (properties.customRules[]) given as kind frontdoor"},
		{"template without the policy", `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			"resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "s"}, {"type": "Microsoft.Network/frontDoors", "name": "fd"}]}`,
			"an ARM template with 2 resources, none of type Microsoft.Network/FrontDoorWebApplicationFirewallPolicies"},
		{"template", `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "name": "s"},
    {"type": "Microsoft.Network/frontdoorWebApplicationFirewallPolicies", "name": "edge", "sku": {"name": "Premium_AzureFrontDoor"},
     "properties": {"customRules": {"rules": [{"name": "Keep", "priority": 50}]}}}
  ]
}
`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "policy.json")
			if err := os.WriteFile(path, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			r, _ := newReconciler(t, NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), desired, &memAudit{})
			res, err := r.Reconcile(t.Context(), quiet)
			now, _ := os.ReadFile(path)
			if c.refused != "" {
				if err == nil || !strings.Contains(err.Error(), c.refused) || fault.Of(err) != fault.Reject || res.Wrote || res.Attempts > 1 {
					t.Fatalf("%+v %v, want a rejection naming %q", res, err, c.refused)
				}
				if string(now) != c.doc {
					t.Errorf("a refused file was changed:\n%s", now)
				}
				return
			}
			if err != nil || !res.Wrote {
				t.Fatalf("%+v %v", res, err)
			}
			doc, err := waf.ParseDocument(waf.FrontDoor, now)
			if err != nil {
				t.Fatal(err)
			}
			owned := doc.Owned(waf.Options{Kind: waf.FrontDoor})
			if len(owned) != 1 || owned[0].Priority != 51 || len(doc.CustomerRules()) != 1 {
				t.Errorf("owned %+v, customer %d: the template's rule at 50 must keep its priority", owned, len(doc.CustomerRules()))
			}
			if strings.Count(string(now), `"customRules"`) != 1 {
				t.Errorf("a second customRules was written beside the template's:\n%s", now)
			}
		})
	}
}

// Only enforced, unexpired, unprotected address blocks reach the WAF.
func TestReconcileFiltersDesiredState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "policy.json")
	dry := block("45.153.160.2", "High", t0.Add(time.Hour))
	dry.Mode = "dryrun"
	identity := block("sub-123", "High", t0.Add(time.Hour))
	desired := &memDesired{blocks: []record.Block{
		block("45.153.160.1", "High", t0.Add(time.Hour)),
		dry,
		block("45.153.160.3", "High", t0), // expires now
		block("10.1.2.3", "High", t0.Add(time.Hour)),
		block("8.0.0.0/6", "High", t0.Add(time.Hour)), // spans 10/8
		identity,
	}}
	r, _ := newReconciler(t, NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), desired, &memAudit{})
	res, err := r.Reconcile(t.Context(), quiet)
	if err != nil || res.Values != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	doc, _ := os.ReadFile(path)
	if !strings.Contains(string(doc), "45.153.160.1") || strings.Contains(string(doc), "10.1.2.3") || strings.Contains(string(doc), "45.153.160.2") {
		t.Errorf("policy file: %s", doc)
	}
}

// flaky wraps a backend with programmed faults.
type flaky struct {
	Backend
	beforePut  func() // runs before a Put reaches the backend
	throttle   int    // Puts to refuse with 429
	ignoreNext int    // Puts to accept but not apply (last writer wins elsewhere)
	precond    int    // Puts to refuse with 412 regardless
	puts       int
}

func (f *flaky) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	f.puts++
	if f.beforePut != nil {
		f.beforePut()
		f.beforePut = nil
	}
	if f.throttle > 0 {
		f.throttle--
		return "", &ThrottledError{RetryAfter: 7 * time.Second, Err: errors.New("429")}
	}
	if f.precond > 0 {
		f.precond--
		return "", ErrPrecondition
	}
	if f.ignoreNext > 0 {
		f.ignoreNext--
		return `"ignored"`, nil
	}
	return f.Backend.Put(ctx, doc, etag)
}

// A customer edit between our read and our write (412) loses nothing on either side.
func TestReconcileConcurrentEdit(t *testing.T) {
	path, orig := copyFixture(t)
	fb := NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor))
	f := &flaky{Backend: fb, beforePut: func() {
		edited := strings.Replace(string(orig), `"rateLimitThreshold": 100`, `"rateLimitThreshold": 50`, 1)
		if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
	}}
	desired := &memDesired{blocks: []record.Block{block("45.153.160.140", "High", t0.Add(time.Hour))}}
	r, slept := newReconciler(t, f, desired, &memAudit{})
	res, err := r.Reconcile(t.Context(), quiet)
	if err != nil || !res.Wrote || res.Attempts != 2 || len(*slept) != 1 {
		t.Fatalf("%+v %v slept %v", res, err, *slept)
	}
	doc, _ := os.ReadFile(path)
	if !strings.Contains(string(doc), `"rateLimitThreshold":50`) && !strings.Contains(string(doc), `"rateLimitThreshold": 50`) {
		t.Errorf("the customer's concurrent edit was lost:\n%s", doc)
	}
	if !strings.Contains(string(doc), "45.153.160.140") {
		t.Error("our block was lost")
	}
}

func TestReconcileHonoursRetryAfter(t *testing.T) {
	path, _ := copyFixture(t)
	f := &flaky{Backend: NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), throttle: 1}
	r, slept := newReconciler(t, f, &memDesired{blocks: []record.Block{block("45.153.160.140", "High", t0.Add(time.Hour))}}, &memAudit{})
	res, err := r.Reconcile(t.Context(), quiet)
	if err != nil || !res.Wrote || len(*slept) != 1 || (*slept)[0] != 7*time.Second {
		t.Fatalf("%+v %v slept %v", res, err, *slept)
	}
}

// A write the service acknowledged but did not keep is caught by verification.
func TestReconcileVerifiesAfterWrite(t *testing.T) {
	path, _ := copyFixture(t)
	f := &flaky{Backend: NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), ignoreNext: 1}
	r, _ := newReconciler(t, f, &memDesired{blocks: []record.Block{block("45.153.160.140", "High", t0.Add(time.Hour))}}, &memAudit{})
	res, err := r.Reconcile(t.Context(), quiet)
	if err != nil || !res.Wrote || res.Attempts != 2 || f.puts != 2 {
		t.Fatalf("%+v %v puts %d", res, err, f.puts)
	}
}

// Conflicts that never end give up with a transient error, after a bounded number of tries.
func TestReconcileGivesUp(t *testing.T) {
	path, _ := copyFixture(t)
	f := &flaky{Backend: NewFileBackend(path, EmptyWAFPolicy(waf.FrontDoor)), precond: 1000}
	r, slept := newReconciler(t, f, &memDesired{blocks: []record.Block{block("45.153.160.140", "High", t0.Add(time.Hour))}}, &memAudit{})
	r.MaxAttempts = 5
	_, err := r.Reconcile(t.Context(), quiet)
	if err == nil || !errors.Is(err, ErrPrecondition) || f.puts != 5 || len(*slept) != 5 {
		t.Fatalf("err %v puts %d slept %v", err, f.puts, *slept)
	}
	for _, d := range *slept {
		if d <= 0 || d > 5*time.Second+10*time.Millisecond {
			t.Errorf("backoff %v out of bounds", d)
		}
	}
}

func TestFileBackendETags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	fb := NewFileBackend(path, EmptyWAFPolicy(waf.AppGW))
	p, err := fb.Get(t.Context())
	if err != nil || p.ETag != "" || !strings.Contains(string(p.Doc), "customRules") {
		t.Fatalf("missing file: %+v %v", p, err)
	}
	if _, err := fb.Put(t.Context(), []byte(`{"a":1}`), `"stale"`); !errors.Is(err, ErrPrecondition) {
		t.Errorf("create with an etag: %v", err)
	}
	e1, err := fb.Put(t.Context(), []byte(`{"a":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Put(t.Context(), []byte(`{"a":2}`), ""); !errors.Is(err, ErrPrecondition) {
		t.Errorf("create over an existing file: %v", err)
	}
	e2, err := fb.Put(t.Context(), []byte(`{"a":2}`), e1)
	if err != nil || e2 == e1 {
		t.Fatalf("update: %q %v", e2, err)
	}
	if got, _ := fb.Get(t.Context()); got.ETag != e2 || string(got.Doc) != `{"a":2}` {
		t.Errorf("read back %+v: the file must hold the bytes written, not a re-indented copy", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
