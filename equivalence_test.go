package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

// attackLog is two hours of combined-format traffic in time order: ordinary clients,
// and attackers that come back, so that findings repeat across windows and batches and
// escalate. Times are recent (within the escalation look-back of the server's clock).
func attackLog(start time.Time) string {
	type line struct {
		t    time.Time
		text string
	}
	var lines []line
	add := func(t time.Time, addr, method, path string, status int) {
		lines = append(lines, line{t, fmt.Sprintf("%s - - [%s] \"%s %s HTTP/1.1\" %d 512 \"-\" \"Mozilla/5.0\"",
			addr, t.Format("02/Jan/2006:15:04:05 -0700"), method, path, status)})
	}
	for c := range 40 { // ordinary clients: a request every two minutes or so
		addr := fmt.Sprintf("81.2.%d.%d", 10+c/200, 1+c%200)
		for t := start.Add(time.Duration(c) * 3 * time.Second); t.Before(start.Add(2 * time.Hour)); t = t.Add(time.Duration(100+c) * time.Second) {
			add(t, addr, "GET", fmt.Sprintf("/api/orders/%d", c), 200)
		}
	}
	probe := func(at time.Time, addr string) {
		for i := range 20 {
			add(at.Add(time.Duration(i)*7*time.Second), addr, "GET", fmt.Sprintf("/.secret-%02d", i), 404)
		}
	}
	flood := func(at time.Time, addr string) {
		for i := range 160 {
			add(at.Add(time.Duration(i)*time.Second), addr, "GET", "/api/catalog", 200)
		}
	}
	probe(start.Add(10*time.Minute), "45.153.170.1")
	probe(start.Add(70*time.Minute), "45.153.170.1") // a repeat offender: escalated
	flood(start.Add(30*time.Minute), "45.153.170.2")
	flood(start.Add(90*time.Minute), "45.153.170.2") // throttled, then blocked
	for i := range 8 {
		add(start.Add(50*time.Minute+time.Duration(i)*20*time.Second), "45.153.170.3", "POST", "/login", 401)
	}
	probe(start.Add(40*time.Minute), "10.0.0.5") // protected: skipped, never an offence
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].t.Before(lines[j].t) })
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// decisionKey is a decision without its expiry, which follows each side's clock.
func decisionKey(raw json.RawMessage) string {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	delete(m, "expires")
	b, _ := json.Marshal(m)
	return string(b)
}

// The same log in the same batches through the server's ingest (Table Storage on
// Azurite) and through replay --decide (in memory, on event time) gives the same
// findings and the same decisions: action, target, duration, offence count, reason.
func TestIngestAndReplayAgree(t *testing.T) {
	dir := t.TempDir()
	logPath, settingsPath := filepath.Join(dir, "access.log"), filepath.Join(dir, "settings.json")
	text := attackLog(time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Hour))
	if err := os.WriteFile(logPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"APIGUARD_TABLES_CONNECTION":       azuritetest.ConnectionString(t),
		"APIGUARD_TABLE_PREFIX":            azuritetest.TablePrefix(t),
		"APIGUARD_MODE":                    "enforce",
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
		// attackLog's floods were sized for a limit of 100 a window (the default before 200).
		"APIGUARD_DETECT_CONFIG": `{"flood":{"limit":100}}`,
	}
	raw, _ := json.Marshal(map[string]any{"Values": values})
	if err := os.WriteFile(settingsPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	// Online: the batches replay cuts, posted to ingest.
	lookup, err := settingsLookup(settingsPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(t.Context(), cfg, lookup, zerolog.New(io.Discard), 0)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.http)
	defer hs.Close()
	type answer struct {
		Findings  []json.RawMessage `json:"findings"`
		Incidents []struct {
			Decisions []json.RawMessage `json:"decisions"`
		} `json:"incidents"`
	}
	online := map[string]json.RawMessage{} // finding id -> latest version
	decided := map[string][]string{}       // finding id -> decisions
	lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
	batches := 0
	for i := 0; i < len(lines); i += replayBatch {
		body := strings.Join(lines[i:min(i+replayBatch, len(lines))], "")
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, hs.URL+"/api/ingest?format=combined", strings.NewReader(body))
		req.Header.Set("Idempotency-Key", fmt.Sprintf("equivalence-%d", batches))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		err = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || len(a.Incidents) != len(a.Findings) {
			t.Fatalf("batch %d: status %d, %v, %d findings and %d incidents", batches, resp.StatusCode, err, len(a.Findings), len(a.Incidents))
		}
		for j, f := range a.Findings {
			var id struct{ ID string }
			_ = json.Unmarshal(f, &id)
			online[id.ID] = f
			if _, seen := decided[id.ID]; !seen {
				for _, d := range a.Incidents[j].Decisions {
					decided[id.ID] = append(decided[id.ID], decisionKey(d))
				}
			}
		}
		batches++
	}
	if batches < 3 {
		t.Fatalf("the log made %d batches: too few to cross batches", batches)
	}

	// Offline: replay --decide on the same file with the same settings.
	var out, errOut bytes.Buffer
	if code := run([]string{"replay", "--progress", "0", "--format", "combined", "--decide", "--settings", settingsPath, logPath}, nil, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	offline := map[string]bool{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	actions := map[string]int{}
	escalated := 0
	for sc.Scan() {
		var line struct {
			ID        string            `json:"id"`
			Decisions []json.RawMessage `json:"decisions"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		offline[line.ID] = true
		var f map[string]any
		_ = json.Unmarshal(sc.Bytes(), &f)
		delete(f, "decisions")
		got, _ := json.Marshal(f)
		var want any
		_ = json.Unmarshal(online[line.ID], &want)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(got, wantJSON) {
			t.Errorf("finding %s differs:\nreplay: %s\ningest: %s", line.ID, got, wantJSON)
		}
		var ds []string
		for _, d := range line.Decisions {
			ds = append(ds, decisionKey(d))
			var v struct {
				Action   string `json:"action"`
				Offences int    `json:"prior_offences"`
			}
			_ = json.Unmarshal(d, &v)
			actions[v.Action]++
			if v.Offences > 0 {
				escalated++
			}
		}
		if !slices.Equal(ds, decided[line.ID]) {
			t.Errorf("decisions of %s differ:\nreplay: %q\ningest: %q", line.ID, ds, decided[line.ID])
		}
	}
	for id := range online {
		if !offline[id] {
			t.Errorf("finding %s found by ingest, not by replay", id)
		}
	}
	// The case is only worth its name if it escalates, throttles, blocks and skips.
	if escalated < 2 || actions["throttle"] == 0 || actions["block_waf"] < 3 || actions["skip"] == 0 {
		t.Errorf("the log exercised too little: %d escalated decisions, actions %v", escalated, actions)
	}
	t.Logf("%d batches, %d findings, actions %v, %d escalated", batches, len(online), actions, escalated)
}
