package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/vocab"
)

// fixedInventory answers the triage with an inventory read from a file.
type fixedInventory struct{ inv triage.Inventory }

func (f fixedInventory) Collect(context.Context) (triage.Inventory, error) { return f.inv, nil }

type onboarded struct {
	mu   sync.Mutex
	apis []string
}

func (o *onboarded) Onboard(_ context.Context, api string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.apis = append(o.apis, api)
	return nil
}

func readInventory(t *testing.T, path string) triage.Inventory {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var inv triage.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

// The monthly run ranks the inventory, stores the month's report, proposes the
// enforceable remediations as pending decisions once, and approving them enforces
// them: a throttle of each client of the API in the owned fragment, and an onboarding.
func TestTriageRun(t *testing.T) {
	inv := readInventory(t, "../triage/testdata/sample/inventory.json")
	c := &clock{t: inv.Collected.Add(time.Hour)}
	dir := t.TempDir()
	ob := &onboarded{}
	reqs := &requests{}
	store := record.NewMemory()
	env := map[string]string{
		"APIGUARD_APIM_TARGETS":          fmt.Sprintf(`[{"dir": %q}]`, dir),
		"APIGUARD_TRIAGE_SENSITIVE_TAGS": "pii,payment",
	}
	a := testApp(t, c, env, store, reqs)
	a.inventory, a.onboard = fixedInventory{inv}, ob

	summary, err := a.Triage(t.Context(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	report, found, err := a.TriageReport(t.Context(), "2026-12")
	if err != nil || !found {
		t.Fatalf("stored report: %v %v", found, err)
	}
	want := triage.Classify(inv, nil, a.TriageOptions())
	if len(report.APIs) != len(want.APIs) || report.Counts[triage.P0] != want.Counts[triage.P0] || !strings.Contains(summary, "triage 2026-12") {
		t.Fatalf("report %v, want %v; summary %q", report.Counts, want.Counts, summary)
	}
	pending, err := a.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var throttles, onboards int
	for _, r := range want.APIs {
		for _, rec := range r.Recommendations {
			switch {
			case rec.Enforceable && rec.Kind == triage.RecommendRateLimit:
				throttles++
			case rec.Enforceable && rec.Kind == triage.RecommendOnboard && slices.Contains(want.Coverage.Next, r.API):
				onboards++
			}
		}
	}
	if throttles == 0 || onboards == 0 || len(pending) != throttles+onboards {
		t.Fatalf("%d pending, want %d throttles and %d onboardings", len(pending), throttles, onboards)
	}
	// A second run the same month proposes nothing again.
	if _, err := a.Triage(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	if again, _ := a.Pending(t.Context()); len(again) != len(pending) {
		t.Fatalf("a rerun proposed %d more", len(again)-len(pending))
	}
	// Approving: the throttle reaches the fragment, the onboarding the onboarder.
	for _, d := range pending {
		got, err := a.Approve(t.Context(), quiet, "alice", d.ID)
		if err != nil || got.Status != vocab.StatusEnforced {
			t.Fatalf("approve %s (%s): %+v %v", d.ID, d.Action, got, err)
		}
	}
	if len(ob.apis) != onboards {
		t.Errorf("onboarded %v", ob.apis)
	}
	blocks, err := a.Blocks(t.Context(), BlockFilter{Action: vocab.Throttle})
	if err != nil || len(blocks) != throttles || blocks[0].Kind != vocab.KeyAPI || blocks[0].Mode != vocab.Enforce {
		t.Fatalf("throttles after approval: %+v %v", blocks, err)
	}
	if _, err := a.Reconcile(t.Context(), quiet, "dir:"+dir); err != nil {
		t.Fatal(err)
	}
	frag, _ := os.ReadFile(dir + "/fragments/apiguard-enforce.xml")
	if strings.Count(string(frag), "rate-limit-by-key") < throttles {
		t.Errorf("fragment after approval:\n%s", frag)
	}
}

// A month later the report compares with the stored one.
func TestTriageComparesWithLastMonth(t *testing.T) {
	prev := readInventory(t, "../triage/testdata/sample/inventory.json")
	prev.Collected = prev.Collected.AddDate(0, -1, 0)
	next := readInventory(t, "../triage/testdata/sample/inventory.json")
	next.Services[0].APIs = next.Services[0].APIs[1:] // one API gone
	c := &clock{t: prev.Collected}
	a := testApp(t, c, nil, record.NewMemory(), nil)
	a.inventory = fixedInventory{prev}
	if _, err := a.Triage(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	c.add(31 * 24 * time.Hour)
	a.inventory = fixedInventory{next}
	if _, err := a.Triage(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	report, _, err := a.TriageReport(t.Context(), next.Collected.Format("2006-01"))
	if err != nil || report.Previous != prev.Collected.Format("2006-01") {
		t.Fatalf("previous %q %v", report.Previous, err)
	}
	removed := false
	for _, ch := range report.Changes {
		removed = removed || ch.Kind == triage.ChangeRemoved && ch.API == prev.Services[0].APIs[0].ID
	}
	if !removed {
		t.Errorf("changes %+v: the removed API is not listed", report.Changes)
	}
}

// The start of the traffic evidence is the earliest event time processed, and only
// moves back.
func TestWatchingSince(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	a := testApp(t, c, nil, record.NewMemory(), nil)
	if ws, err := a.WatchingSince(t.Context()); err != nil || !ws.IsZero() {
		t.Fatalf("before any traffic: %v %v", ws, err)
	}
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	line := func(ts time.Time) string {
		return fmt.Sprintf("45.153.190.1 - - [%s] \"GET /a HTTP/1.1\" 200 10 \"-\" \"ua\"\n", ts.Format("02/Jan/2006:15:04:05 -0700"))
	}
	for i, ts := range []time.Time{at.Add(time.Hour), at, at.Add(2 * time.Hour)} {
		a2 := a
		if i == 1 {
			a2 = testApp(t, c, nil, a.store, nil) // another instance: its own first note
		}
		if _, err := a2.ProcessBatch(t.Context(), quiet, queueBatch(fmt.Sprint(i), line(ts))); err != nil {
			t.Fatal(err)
		}
	}
	if ws, err := a.WatchingSince(t.Context()); err != nil || !ws.Equal(at) {
		t.Errorf("watching since %v, want %v (%v)", ws, at, err)
	}
}

func queueBatch(id, body string) queue.LogBatch {
	return queue.LogBatch{ID: "test:" + id, Body: []byte(body), Format: "combined"}
}
