package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/handlers"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/report"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

func runTriageCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"triage"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// triageSettings is a settings file with the sensitive tags the scenarios assume.
func triageSettings(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "settings.json")
	raw, _ := json.Marshal(map[string]any{"Values": map[string]string{
		"APIGUARD_TRIAGE_SENSITIVE_TAGS": strings.Join(triagetest.SensitiveTags, ","),
	}})
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The acceptance: an inventory read over ARM (the SDK fakes) and the same inventory
// written as a snapshot folder give the same report, this month and next month
// against this month's report, through the command a user runs.
func TestTriageSnapshotGivesTheSameReport(t *testing.T) {
	settings := triageSettings(t)
	opts := triage.Options{SensitiveTags: triagetest.SensitiveTags}
	dir := t.TempDir()
	var prev *triage.Classification
	var prevFile string
	for i, w := range []*triagetest.World{triagetest.Scenario(), triagetest.ScenarioNextMonth()} {
		// Online: the collector straight over the fakes.
		inv, err := collect.Collect(t.Context(), w.Options())
		if err != nil {
			t.Fatal(err)
		}
		online := triage.Classify(inv, prev, opts)
		var want bytes.Buffer
		if err := report.JSON(&want, online); err != nil {
			t.Fatal(err)
		}

		// Offline: the same reads recorded into a folder, then the command over it.
		snap := filepath.Join(dir, online.Month)
		if _, err := collect.TakeSnapshot(t.Context(), w.Options(), snap); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(snap, "apiguard", "last-seen.json")); err != nil {
			t.Fatalf("snapshot without apiguard's data: %v", err)
		}
		args := []string{"--snapshot", snap, "--settings", settings}
		if prevFile != "" {
			args = append(args, "--previous", prevFile)
		}
		code, got, errOut := runTriageCLI(t, args...)
		if code != 0 {
			t.Fatalf("month %d: exit %d: %s", i+1, code, errOut)
		}
		if got != want.String() {
			t.Fatalf("month %d: the offline report differs from the online one\noffline: %.600s\n online: %.600s", i+1, got, want.String())
		}
		if i == 1 && len(online.Changes) == 0 {
			t.Fatal("next month against this month lists no changes: the comparison was not exercised")
		}

		// The other formats, written to a file.
		for _, f := range []string{"md", "html"} {
			out := filepath.Join(dir, online.Month+"."+f)
			if code, _, errOut := runTriageCLI(t, append(args, "--format", f, "--out", out)...); code != 0 {
				t.Fatalf("--format %s: exit %d: %s", f, code, errOut)
			}
			body, _ := os.ReadFile(out)
			var again bytes.Buffer
			if f == "md" {
				err = report.Markdown(&again, online)
			} else {
				err = report.HTML(&again, online, report.HTMLOptions{})
			}
			if err != nil || !bytes.Equal(body, again.Bytes()) {
				t.Errorf("--format %s: the offline report differs from the online one (%v)", f, err)
			}
		}

		prev = &online
		prevFile = filepath.Join(dir, online.Month+".json")
		if err := os.WriteFile(prevFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTriageCommandErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte(`{"not":"a report"}`), 0o644)
	snap := filepath.Join(dir, "snap")
	w := triagetest.Scenario()
	if _, err := collect.TakeSnapshot(t.Context(), w.Options(), snap); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "usage"},
		{[]string{"--snapshot", snap, "--format", "xml"}, 2, `"xml" is not json, md or html`},
		{[]string{"--snapshot", snap, "extra"}, 2, "usage"},
		{[]string{"--snapshot", filepath.Join(dir, "absent")}, 1, "absent"},
		{[]string{"--snapshot", snap, "--previous", garbage}, 1, "not a triage report"},
		{[]string{"--snapshot", snap, "--previous", filepath.Join(dir, "none.json")}, 1, "--previous"},
		{[]string{"snapshot"}, 2, "usage"},
	} {
		code, out, errOut := runTriageCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.says) || out != "" {
			t.Errorf("triage %v: exit %d, stdout %d bytes, stderr %q; want exit %d saying %q", c.args, code, len(out), errOut, c.code, c.says)
		}
	}
}

// worldInventory is the scenario's inventory read over the fakes, as the server's
// collector reads Azure.
type worldInventory struct{ w *triagetest.World }

func (i worldInventory) Collect(ctx context.Context) (triage.Inventory, error) {
	return collect.Collect(ctx, i.w.Options())
}

// The client commands: a run now, then the stored report in each format, as the
// server renders it.
func TestCLITriage(t *testing.T) {
	s := newCLIServerWith(t, map[string]string{"APIGUARD_TRIAGE_SENSITIVE_TAGS": strings.Join(triagetest.SensitiveTags, ",")},
		func(d *flow.Deps) { d.Inventory = worldInventory{triagetest.Scenario()} })

	if code, _, errOut := s.cli(t, "triage", "show", "latest"); code != 1 || !strings.Contains(errOut, "no triage has run yet") {
		t.Errorf("before any run: exit %d, %q", code, errOut)
	}
	out := s.must(t, "triage", "run")
	if !strings.HasPrefix(out, "triage of 2026-12: ") || !strings.Contains(out, "apiguard triage show 2026-12") {
		t.Errorf("run: %q", out)
	}

	inv, err := collect.Collect(t.Context(), triagetest.Scenario().Options())
	if err != nil {
		t.Fatal(err)
	}
	c := triage.Classify(inv, nil, triage.Options{SensitiveTags: triagetest.SensitiveTags})
	if got := s.must(t, "triage", "show", "latest"); !strings.HasPrefix(got, "# API triage: December 2026") || !strings.Contains(got, "| P0: this week |") {
		t.Errorf("show latest (md): %.300q", got)
	}
	var doc struct {
		Month string           `json:"month"`
		APIs  []map[string]any `json:"apis"`
	}
	if err := json.Unmarshal([]byte(s.must(t, "triage", "show", "2026-12", "-o", "json")), &doc); err != nil || doc.Month != "2026-12" || len(doc.APIs) != len(c.APIs) {
		t.Errorf("show -o json: month %q, %d APIs (want %d): %v", doc.Month, len(doc.APIs), len(c.APIs), err)
	}
	if got := s.must(t, "triage", "show", "2026-12", "--format", "html"); !strings.HasPrefix(got, "<!DOCTYPE html>") {
		t.Errorf("show --format html: %.100q", got)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"triage", "show", "December"}, 2, "not latest or a month"},
		{[]string{"triage", "show", "2026-13"}, 2, "not latest or a month"},
		{[]string{"triage", "show", "latest", "--format", "pdf"}, 2, `"pdf" is not md, json or html`},
		{[]string{"triage", "show", "2026-11"}, 1, "2026-11"},
		{[]string{"triage", "show"}, 2, "takes 1 argument"},
	} {
		if code, _, errOut := s.cli(t, c.args...); code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("%v: exit %d, %q; want %d saying %q", c.args, code, errOut, c.code, c.says)
		}
	}
}

// The server, with a snapshot as its inventory (APIGUARD_TRIAGE_SNAPSHOT, as make run
// has it) and Table Storage on Azurite, stores and serves the same report as the
// offline command gives for that snapshot.
func TestServedTriageMatchesOffline(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "snap")
	w := triagetest.Scenario()
	if _, err := collect.TakeSnapshot(t.Context(), w.Options(), snap); err != nil {
		t.Fatal(err)
	}
	settings := triageSettings(t)
	code, offline, errOut := runTriageCLI(t, "--snapshot", snap, "--settings", settings)
	if code != 0 {
		t.Fatalf("offline: exit %d: %s", code, errOut)
	}

	values := map[string]string{
		"APIGUARD_TABLES_CONNECTION":     azuritetest.ConnectionString(t),
		"APIGUARD_TABLE_PREFIX":          azuritetest.TablePrefix(t),
		"APIGUARD_TRIAGE_SNAPSHOT":       snap,
		"APIGUARD_TRIAGE_SENSITIVE_TAGS": strings.Join(triagetest.SensitiveTags, ","),
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := values[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	on, err := openOnline(cfg, os.LookupEnv, zerolog.New(io.Discard), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.New(on.App, cfg, zerolog.New(io.Discard), time.Now).ServeHandler(mustDefs(t))
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}
	if rec := do(http.MethodPost, "/api/v1/triage/run"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"month":"2026-12"`) {
		t.Fatalf("run: %d %s", rec.Code, rec.Body.String())
	}
	rec := do(http.MethodGet, "/api/v1/triage/latest?format=json")
	if rec.Code != http.StatusOK || rec.Body.String() != offline {
		t.Errorf("served %d, %d bytes; offline %d bytes; equal: %v", rec.Code, rec.Body.Len(), len(offline), rec.Body.String() == offline)
	}
}

func mustDefs(t *testing.T) map[string]handlers.Def {
	t.Helper()
	defs, err := handlers.LoadDefs(functionsFS())
	if err != nil {
		t.Fatal(err)
	}
	return defs
}
