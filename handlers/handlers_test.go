package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/control"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }
func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is the handlers over a real application layer on the test Azurite.
type env struct {
	*App
	flow  *flow.App
	store *record.Store
}

// testApp is the handlers over a fresh set of tables in the test Azurite, in enforce
// mode with the given settings.
func testApp(t testing.TB, c *clock, settings map[string]string) (*env, *record.Store) {
	t.Helper()
	return build(t, c, settings, nil)
}

// build is testApp with the application layer's dependencies adjusted by with.
func build(t testing.TB, c *clock, settings map[string]string, with func(d *flow.Deps)) (*env, *record.Store) {
	t.Helper()
	vars := map[string]string{
		"APIGUARD_TABLES_CONNECTION": azuritetest.ConnectionString(t),
		"APIGUARD_TABLE_PREFIX":      azuritetest.TablePrefix(t),
		"APIGUARD_MODE":              "enforce",
		// The traffic tests were written around a flood limit of 100 a window (the
		// default until the generated scenarios moved it to 200).
		"APIGUARD_DETECT_CONFIG": `{"flood":{"limit":100}}`,
	}
	for k, v := range settings {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	store, err := flow.OpenTables(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(io.Discard)
	deps := flow.Deps{Config: cfg, Store: store, Detect: store.DetectStates(), Now: c.now, Log: log}
	if with != nil {
		with(&deps)
	}
	app, err := flow.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &env{App: New(control.NewApp(app, control.Options{Log: log, Now: c.now, MaxBody: cfg.MaxBodyBytes}), cfg, log, c.now), flow: app, store: store}, store
}

// hostEnvelope wraps a body as the Functions host sends an HTTP trigger invocation.
func hostEnvelope(t *testing.T, method string, headers map[string]string, body []byte) []byte {
	t.Helper()
	h := map[string][]string{}
	for k, v := range headers {
		h[k] = []string{v}
	}
	req := map[string]any{
		"Url": "https://apiguard.azurewebsites.net/api/alerts", "Method": method, "Query": map[string]string{},
		"Headers": h, "Params": map[string]string{},
		"Identities": []any{map[string]any{"AuthenticationType": "WebJobsAuthLevel", "IsAuthenticated": true,
			"Claims": []any{map[string]any{"Type": "http://schemas.microsoft.com/2017/07/functions/claims/authlevel", "Value": "Function"}}}},
	}
	if len(body) > 0 {
		req["Body"] = string(body)
	}
	env, err := json.Marshal(map[string]any{
		"Data":     map[string]any{"req": req},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "alerts", "UtcNow": "2026-11-23T12:00:00.1234567Z", "RandGuid": "00000000-0000-0000-0000-000000000001"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type hostAnswer struct {
	Outputs struct {
		Res struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		} `json:"res"`
	}
	Logs []string
}

// invokeHost posts an envelope to the custom handler as the host does.
func invokeHost(t *testing.T, h http.Handler, function string, env []byte) (int, hostAnswer) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(env))
	r.Header.Set("X-Azure-Functions-InvocationId", "11111111-2222-3333-4444-555555555555")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var a hostAnswer
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("host answer is not an envelope response: %v\n%s", err, w.Body.String())
		}
	}
	return w.Code, a
}

type decisionView struct {
	Index    int    `json:"index"`
	Action   string `json:"action"`
	Intended string `json:"intended_action"`
	Mode     string `json:"mode"`
	Address  string `json:"address"`
	Duration string `json:"duration"`
	Seconds  int64  `json:"duration_seconds"`
	Offences int    `json:"prior_offences"`
	Reason   string `json:"reason"`
}

type alertsView struct {
	Incidents []struct {
		Incident struct {
			ID        string `json:"id"`
			AlertType string `json:"alert_type"`
		} `json:"incident"`
		Duplicate bool           `json:"duplicate"`
		Decisions []decisionView `json:"decisions"`
	} `json:"incidents"`
	Rejected []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Error string `json:"error"`
	VR    string `json:"validationResponse"`
}

func postAlert(t *testing.T, a *env, body []byte, headers map[string]string) (int, alertsView) {
	t.Helper()
	if headers == nil {
		headers = map[string]string{"Content-Type": "application/json"}
	}
	code, ans := invokeHost(t, a.HostHandler(), "alerts", hostEnvelope(t, "POST", headers, body))
	if code != http.StatusOK {
		t.Fatalf("host status %d", code)
	}
	var v alertsView
	if ans.Outputs.Res.Body != "" {
		if err := json.Unmarshal([]byte(ans.Outputs.Res.Body), &v); err != nil {
			t.Fatalf("res body: %v\n%s", err, ans.Outputs.Res.Body)
		}
	}
	return ans.Outputs.Res.StatusCode, v
}

func TestAlertBecomesBlockDecisionOnce(t *testing.T) {
	c := newClock()
	a, store := testApp(t, c, nil)
	body := readFile(t, "../docs/examples/alert-arm.json")

	status, v := postAlert(t, a, body, nil)
	if status != http.StatusAccepted || len(v.Incidents) != 1 {
		t.Fatalf("status %d, %+v", status, v)
	}
	inc := v.Incidents[0]
	if inc.Duplicate || inc.Incident.AlertType != "API_AccessFromSuspiciousIP" || !strings.HasPrefix(inc.Incident.ID, "inc-") {
		t.Fatalf("incident %+v", inc)
	}
	if len(inc.Decisions) != 1 {
		t.Fatalf("decisions %+v", inc.Decisions)
	}
	d := inc.Decisions[0]
	if d.Action != "block_waf" || d.Address != "45.153.160.140" || d.Mode != "enforce" || d.Duration == "" || d.Seconds < 20*3600 {
		t.Fatalf("decision %+v", d)
	}
	b, found, err := store.GetBlock(t.Context(), "block_waf", "45.153.160.140")
	if err != nil || !found {
		t.Fatalf("desired block: found=%v err=%v", found, err)
	}
	if !b.Expires.Equal(c.now().Add(time.Duration(d.Seconds)*time.Second)) || b.SourceIncident != inc.Incident.ID || b.Mode != "enforce" || b.Offences != 1 {
		t.Errorf("desired block %+v", b)
	}

	// The same alert again: the earlier decisions, nothing new.
	c.add(time.Minute)
	status, v2 := postAlert(t, a, body, nil)
	if status != http.StatusAccepted || !v2.Incidents[0].Duplicate {
		t.Fatalf("redelivery: status %d %+v", status, v2)
	}
	if fmt.Sprint(v2.Incidents[0].Decisions) != fmt.Sprint(inc.Decisions) {
		t.Errorf("redelivery answered other decisions:\n%v\n%v", v2.Incidents[0].Decisions, inc.Decisions)
	}
	recs, err := store.ListDecisions(t.Context(), inc.Incident.ID, time.Date(2026, 11, 23, 10, 2, 11, 0, time.UTC))
	if err != nil || len(recs) != 1 {
		t.Errorf("stored decisions: %d, %v", len(recs), err)
	}
	n, err := store.CountOffences(t.Context(), "45.153.160.140", c.now().Add(-24*time.Hour), "")
	if err != nil || n != 1 {
		t.Errorf("offences after redelivery: %d, %v", n, err)
	}
	b2, _, _ := store.GetBlock(t.Context(), "block_waf", "45.153.160.140")
	if !b2.Expires.Equal(b.Expires) {
		t.Errorf("redelivery moved the expiry: %v -> %v", b.Expires, b2.Expires)
	}
}

func TestPrivateAddressIsSkippedWithReason(t *testing.T) {
	a, store := testApp(t, newClock(), nil)
	status, v := postAlert(t, a, readFile(t, "../docs/examples/alert-private-ip.json"), nil)
	if status != http.StatusAccepted {
		t.Fatalf("status %d %+v", status, v)
	}
	d := v.Incidents[0].Decisions
	if len(d) != 1 || d[0].Action != "skip" || d[0].Address != "10.1.2.3" || !strings.Contains(d[0].Reason, "private range") {
		t.Fatalf("decisions %+v", d)
	}
	if _, found, _ := store.GetBlock(t.Context(), "block_waf", "10.1.2.3"); found {
		t.Error("a desired block exists for a private address")
	}
}

func TestUnknownAlertTypeIsRecorded(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	body := []byte(`{"alertType":"API_SomethingBrandNew","systemAlertId":"x-1","severity":"Medium","entities":[{"type":"ip","address":"45.153.160.7"}]}`)
	status, v := postAlert(t, a, body, nil)
	if status != http.StatusAccepted || len(v.Incidents) != 1 || v.Incidents[0].Decisions[0].Action != "record" {
		t.Fatalf("status %d %+v", status, v)
	}
}

func TestBadBodiesAreRejectedClearly(t *testing.T) {
	a, _ := testApp(t, newClock(), map[string]string{"APIGUARD_MAX_BODY_BYTES": "2048"})
	status, v := postAlert(t, a, []byte("{\n  \"alertType\": \"API_SprayInRequests\",\n  \"severity\": }"), nil)
	if status != http.StatusBadRequest || !strings.Contains(v.Error, "line 3") {
		t.Errorf("malformed: %d %q", status, v.Error)
	}
	big := append([]byte(`{"alertType":"x","pad":"`), bytes.Repeat([]byte("a"), 4096)...)
	big = append(big, `"}`...)
	if status, v := postAlert(t, a, big, nil); status != http.StatusRequestEntityTooLarge || !strings.Contains(v.Error, "2048") {
		t.Errorf("oversize: %d %q", status, v.Error)
	}
	if status, _ := postAlert(t, a, nil, nil); status != http.StatusBadRequest {
		t.Errorf("empty body: %d", status)
	}
}

func TestEventGridHandshakes(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	body := []byte(`[{"id":"1","topic":"t","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2026-11-23T12:00:00Z","dataVersion":"1","data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]`)
	status, v := postAlert(t, a, body, nil)
	if status != http.StatusOK || v.VR != "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" {
		t.Errorf("validation event: %d %+v", status, v)
	}
	code, ans := invokeHost(t, a.HostHandler(), "alerts", hostEnvelope(t, "OPTIONS", map[string]string{"WebHook-Request-Origin": "eventgrid.azure.net"}, nil))
	if code != http.StatusOK || ans.Outputs.Res.StatusCode != http.StatusOK || ans.Outputs.Res.Headers["WebHook-Allowed-Origin"] != "eventgrid.azure.net" {
		t.Errorf("OPTIONS handshake: %d %+v", code, ans.Outputs.Res)
	}
}

func TestHostReadinessAndUnknownFunction(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	w := httptest.NewRecorder()
	a.HostHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusOK {
		t.Errorf("GET / = %d", w.Code)
	}
	if code, _ := invokeHost(t, a.HostHandler(), "nope", []byte(`{"Data":{},"Metadata":{}}`)); code != http.StatusNotFound {
		t.Errorf("unknown function = %d", code)
	}
	// A broken envelope for an HTTP function still answers the caller, with a 4xx.
	code, ans := invokeHost(t, a.HostHandler(), "alerts", []byte(`{"Data": {"req": `))
	if code != http.StatusOK || ans.Outputs.Res.StatusCode != http.StatusBadRequest {
		t.Errorf("broken envelope: %d %+v", code, ans.Outputs.Res)
	}
}

func TestExpireTimerRemovesExpiredBlocks(t *testing.T) {
	c := newClock()
	a, store := testApp(t, c, nil)
	if status, v := postAlert(t, a, readFile(t, "../docs/examples/alert-arm.json"), nil); status != http.StatusAccepted {
		t.Fatalf("status %d %+v", status, v)
	}
	timerEnv := []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"expire","UtcNow":"2026-11-23T12:05:00Z","RandGuid":"x"}}}`)

	code, ans := invokeHost(t, a.HostHandler(), "expire", timerEnv)
	if code != http.StatusOK || len(ans.Logs) == 0 || !strings.HasPrefix(ans.Logs[0], "expired 0 desired blocks,") {
		t.Fatalf("before expiry: %d %+v", code, ans)
	}
	if _, found, _ := store.GetBlock(t.Context(), "block_waf", "45.153.160.140"); !found {
		t.Fatal("block removed before its expiry")
	}
	c.add(27 * time.Hour) // past 24h + 10% jitter
	code, ans = invokeHost(t, a.HostHandler(), "expire", timerEnv)
	if code != http.StatusOK || len(ans.Logs) == 0 || !strings.HasPrefix(ans.Logs[0], "expired 1 desired blocks,") {
		t.Fatalf("after expiry: %d %+v", code, ans)
	}
	if _, found, _ := store.GetBlock(t.Context(), "block_waf", "45.153.160.140"); found {
		t.Error("expired block still desired")
	}
	events, err := store.ListAudit(t.Context(), c.now().Add(-48*time.Hour), c.now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "block.created") || !strings.Contains(got, "incident.decided") || !strings.HasSuffix(got, "block.expired") {
		t.Errorf("audit kinds %s", got)
	}
}

// The standalone server routes /api/alerts to the same handler.
func TestServeRoutes(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.ServeHandler(defs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/alerts", "application/json", bytes.NewReader(readFile(t, "../docs/examples/alert-arm.json")))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v alertsView
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &v) != nil || v.Incidents[0].Decisions[0].Action != "block_waf" {
		t.Fatalf("serve: %d %s", resp.StatusCode, raw)
	}
	resp, err = http.Get(srv.URL + "/api/alerts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/alerts = %d", resp.StatusCode)
	}
	big := bytes.Repeat([]byte("a"), int(a.Config.MaxBodyBytes)+10)
	resp, err = http.Post(srv.URL+"/api/alerts", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize through serve = %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/admin/functions/expire", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(raw), "expired 0") {
		t.Errorf("admin expire: %d %s", resp.StatusCode, raw)
	}
}
