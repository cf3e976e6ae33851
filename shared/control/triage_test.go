package control

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/report"
)

type fileInventory struct{ inv triage.Inventory }

func (f fileInventory) Collect(context.Context) (triage.Inventory, error) { return f.inv, nil }

// The triage runs from the API, and its report reads back in each format.
func TestTriageRoutes(t *testing.T) {
	raw, err := os.ReadFile("../triage/testdata/sample/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	var inv triage.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil, func(d *flow.Deps) { d.Inventory = fileInventory{inv} })
	e.clock.t = inv.Collected.Add(time.Hour)
	var p problemView
	if code := e.call(t, "GET", Prefix+"/triage/latest", "", &p); code != 404 || !strings.Contains(p.Detail, "triage/run") {
		t.Fatalf("before a run: %d %+v", code, p)
	}
	var run TriageRun
	if code := e.call(t, "POST", Prefix+"/triage/run", "", &run); code != 200 || run.Month != "2026-12" || !strings.Contains(run.Summary, "P0") {
		t.Fatalf("run: %d %+v", code, run)
	}
	var doc report.Document
	w := do(t, e.api, "GET", Prefix+"/triage/latest", "", nil, &doc)
	if w.Code != 200 || doc.Version != report.Version || doc.Month != "2026-12" || len(doc.APIs) == 0 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("latest json: %d %+v", w.Code, doc.Summary)
	}
	for _, c := range []struct{ query, accept, ct, marker string }{
		{"?format=md", "", "text/markdown; charset=utf-8", "# "},
		{"", "text/markdown", "text/markdown; charset=utf-8", "# "},
		{"?format=html", "", "text/html; charset=utf-8", "<!DOCTYPE html>"},
		{"", "text/html,application/xhtml+xml;q=0.9", "text/html; charset=utf-8", "<!DOCTYPE html>"},
		{"", "*/*", "application/json", `{"version":1`},
	} {
		w := do(t, e.api, "GET", Prefix+"/triage/2026-12"+c.query, "", map[string]string{"Accept": c.accept}, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != c.ct || !strings.Contains(w.Body.String(), c.marker) {
			t.Errorf("%s accept %q: %d %s %.80q", c.query, c.accept, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
	if code := e.call(t, "GET", Prefix+"/triage/2026-13", "", &p); code != 400 || p.Field != "month" {
		t.Errorf("bad month: %d %+v", code, p)
	}
	if code := e.call(t, "GET", Prefix+"/triage/2025-01", "", &p); code != 404 {
		t.Errorf("no such month: %d", code)
	}
	if code := e.call(t, "GET", Prefix+"/triage/latest?format=pdf", "", &p); code != 400 || p.Field != "format" {
		t.Errorf("bad format: %d %+v", code, p)
	}
	// The proposals wait for approval like any decision.
	var pending Page[flow.Decision]
	if code := e.call(t, "GET", Prefix+"/decisions?status=pending", "", &pending); code != 200 || len(pending.Value) == 0 ||
		!strings.HasPrefix(pending.Value[0].AlertType, "apiguard.triage.") {
		t.Errorf("pending proposals: %d %+v", code, pending.Value)
	}
}
