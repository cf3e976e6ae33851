package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/control"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/hungtest"
	"github.com/apiguard/apiguard/shared/record"
)

// The budgets of these tests: small, so a hang shows in well under a second, and the
// call timeout shorter still, as validation requires. Without the budget a hung
// storage call alone would take four tries of 200 ms and 5.6 s of SDK backoff.
const (
	testCallTimeout = 200 * time.Millisecond
	testBudget      = 500 * time.Millisecond
	// slack covers scheduling on a loaded 2-vCPU machine; the claim tested is "within
	// the budget, not minutes".
	slack = time.Second
)

// safeBuffer collects log lines from concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// hungApp is the handlers over Table Storage at a frozen endpoint, logging to a buffer.
func hungApp(t *testing.T, settings map[string]string, with func(d *flow.Deps)) (*App, *hungtest.Endpoint, *safeBuffer) {
	t.Helper()
	hung := hungtest.Listen(t)
	vars := map[string]string{
		"APIGUARD_TABLES_CONNECTION": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
			"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
			"TableEndpoint=http://" + hung.Addr() + "/devstoreaccount1;",
		"APIGUARD_MODE":              "enforce",
		"APIGUARD_CALL_TIMEOUT":      testCallTimeout.String(),
		"APIGUARD_INVOCATION_BUDGET": testBudget.String(),
		"APIGUARD_BACKGROUND_BUDGET": testBudget.String(),
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
	logs := &safeBuffer{}
	log := zerolog.New(logs)
	deps := flow.Deps{Config: cfg, Store: store, Detect: store.DetectStates(), Log: log}
	if with != nil {
		with(&deps)
	}
	app, err := flow.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	return New(control.NewApp(app, control.Options{Log: log, MaxBody: cfg.MaxBodyBytes}), cfg, log, time.Now), hung, logs
}

// internals are what a 5xx answer must not carry: the endpoint, the account, the SDK's
// and the runtime's error text.
func internals(hung *hungtest.Endpoint) []string {
	return []string{"127.0.0.1", strconv.Itoa(hung.Port()), "devstoreaccount1", "http://", "RESPONSE", "dial", "context deadline", "record:", "Tables"}
}

// checkServerFault checks a 5xx answer: generic, an error id, and the id on a log line
// that does carry the internals.
func checkServerFault(t *testing.T, hung *hungtest.Endpoint, logs *safeBuffer, body string) {
	t.Helper()
	for _, leak := range internals(hung) {
		if strings.Contains(body, leak) {
			t.Errorf("answer carries %q: %s", leak, body)
		}
	}
	var ans struct {
		Error   string `json:"error"`
		Detail  string `json:"detail"` // the control API's problem details
		ErrorID string `json:"errorId"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.Error+ans.Detail == "" || ans.ErrorID == "" {
		t.Fatalf("answer %q: want an error and an errorId", body)
	}
	var line string
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, `"error_id":"`+ans.ErrorID+`"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("error id %s on no log line:\n%s", ans.ErrorID, logs.String())
	}
	if !strings.Contains(line, hung.Addr()) && !strings.Contains(line, "deadline") {
		t.Errorf("the log line of %s does not hold the full error: %s", ans.ErrorID, line)
	}
}

// A hung Table Storage endpoint: an alert POST answers 503 with Retry-After within the
// invocation's budget, under the Functions host and in serve, and the answer names no
// internals; the log has them under the answer's error id.
func TestHungStoreAnswers503WithinBudget(t *testing.T) {
	a, hung, logs := hungApp(t, nil, nil)
	body := readFile(t, "../docs/examples/alert-arm.json")
	serve, err := a.ServeHandler(map[string]Def{"alerts": {Name: "alerts", Trigger: "httpTrigger", Route: "alerts", Methods: []string{"POST"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, via := range []string{"host", "serve"} {
		t.Run(via, func(t *testing.T) {
			start := time.Now()
			var (
				status  int
				headers map[string]string
				answer  string
			)
			if via == "host" {
				code, ans := invokeHost(t, a.HostHandler(), "alerts", hostEnvelope(t, "POST", map[string]string{"Content-Type": "application/json"}, body))
				if code != http.StatusOK {
					t.Fatalf("host status %d", code)
				}
				status, headers, answer = ans.Outputs.Res.StatusCode, ans.Outputs.Res.Headers, ans.Outputs.Res.Body
			} else {
				w := httptest.NewRecorder()
				serve.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/alerts", bytes.NewReader(body)))
				status, headers, answer = w.Code, map[string]string{"Retry-After": w.Header().Get("Retry-After")}, w.Body.String()
			}
			took := time.Since(start)
			t.Logf("hung store, alert POST via %s: %d after %v (budget %v, call timeout %v)", via, status, took.Round(time.Millisecond), testBudget, testCallTimeout)
			if status != http.StatusServiceUnavailable || headers["Retry-After"] == "" {
				t.Errorf("status %d, Retry-After %q: want 503 with Retry-After", status, headers["Retry-After"])
			}
			if took > testBudget+slack {
				t.Errorf("answered after %v, want within the budget %v (+%v slack)", took, testBudget, slack)
			}
			checkServerFault(t, hung, logs, answer)
		})
	}
	t.Run("control API", func(t *testing.T) {
		api, err := a.ServeHandler(map[string]Def{"api": {Name: "api", Trigger: "httpTrigger", Route: "v1/{*path}", Methods: []string{"GET"}}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		w := httptest.NewRecorder()
		api.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/blocks", nil))
		took := time.Since(start)
		t.Logf("hung store, GET /api/v1/blocks: %d after %v", w.Code, took.Round(time.Millisecond))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || took > testBudget+slack {
			t.Errorf("status %d, Retry-After %q after %v: want 503 with Retry-After within the budget", w.Code, w.Header().Get("Retry-After"), took)
		}
		checkServerFault(t, hung, logs, w.Body.String())
	})
	if hung.Accepted() == 0 {
		t.Error("the store never reached the frozen endpoint: the test proves nothing")
	}
}

// The expiry timer over a hung store fails as transient within its budget: under the
// host the invocation fails (the host retries it), in serve RunNow returns the fault.
func TestHungStoreFailsExpireWithinBudget(t *testing.T) {
	a, hung, _ := hungApp(t, nil, nil)
	timerEnv := []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"expire"}}}`)
	start := time.Now()
	code, _ := invokeHost(t, a.HostHandler(), "expire", timerEnv)
	took := time.Since(start)
	t.Logf("hung store, expire under the host: %d after %v (budget %v)", code, took.Round(time.Millisecond), testBudget)
	if code != http.StatusInternalServerError {
		t.Errorf("host status %d, want 500 (the invocation fails, so the host retries)", code)
	}
	if took > testBudget+slack {
		t.Errorf("failed after %v, want within the budget %v (+%v slack)", took, testBudget, slack)
	}

	start = time.Now()
	_, err := a.RunNow(context.Background(), "expire")
	took = time.Since(start)
	t.Logf("hung store, expire in serve: failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil || fault.Of(err) != fault.Retry {
		t.Errorf("RunNow: %v, want a transient fault", err)
	}
	if took > testBudget+slack {
		t.Errorf("failed after %v, want within the budget %v (+%v slack)", took, testBudget, slack)
	}
	if hung.Accepted() == 0 {
		t.Error("the store never reached the frozen endpoint")
	}
}

// A run of a timer that is still running when the next is due is skipped, at once,
// whether the schedule, RunNow or the admin route asks; the running one ends within
// its budget.
func TestTimerRunsDoNotPileUp(t *testing.T) {
	const budget = 2 * time.Second
	a, _, _ := hungApp(t, map[string]string{"APIGUARD_BACKGROUND_BUDGET": budget.String()}, nil)
	first := make(chan error, 1)
	start := time.Now()
	go func() { _, err := a.RunNow(context.Background(), "expire"); first <- err }()
	running := func() bool {
		f, ok := a.running.Load("expire")
		return ok && f.(*atomic.Bool).Load()
	}
	for i := 0; i < 200 && !running(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if !running() {
		t.Fatal("the first run never started")
	}
	second := time.Now()
	if _, err := a.RunNow(context.Background(), "expire"); !errors.Is(err, errTimerRunning) {
		t.Errorf("second run while the first runs: %v, want it skipped", err)
	}
	if d := time.Since(second); d > slack {
		t.Errorf("the skipped run took %v", d)
	}
	if err := <-first; err == nil || fault.Of(err) != fault.Retry {
		t.Errorf("first run: %v, want a transient fault", err)
	}
	took := time.Since(start)
	t.Logf("overlapping expire run skipped; the hung one failed after %v (budget %v)", took.Round(time.Millisecond), budget)
	if took > budget+slack {
		t.Errorf("the hung run took %v, want within %v (+%v)", took, budget, slack)
	}
	if running() {
		t.Error("the guard stayed set after the run")
	}
}

// fakeToken is a credential that needs no network.
type fakeToken struct{}

func (fakeToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A reconcile against an ARM endpoint that accepts and never answers fails as transient
// within the background budget, whoever calls it (serve's worker calls Reconcile
// directly, the remediate function through Remediate). The desired state is in memory:
// only ARM hangs.
func TestHungARMFailsReconcileWithinBudget(t *testing.T) {
	hungARM := hungtest.Listen(t)
	a, _, _ := hungApp(t, map[string]string{"APIGUARD_WAF_TARGETS": fmt.Sprintf(`[{"id": %q}]`, fdID)}, nil)
	mem := record.NewMemory()
	app, err := flow.New(flow.Deps{Config: a.Config, Store: mem, Detect: detect.NewMemoryStore(1000, 0), Log: zerolog.Nop(),
		ARM: func(string) (azcore.TokenCredential, *arm.ClientOptions, error) {
			// management.azure.com, dialled at the frozen endpoint: the TLS handshake
			// never completes.
			dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, hungARM.Addr())
			}
			return fakeToken{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
				Transport: &http.Client{Transport: &http.Transport{DialContext: dial}}}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = app.Reconcile(context.Background(), zerolog.Nop(), fdID)
	took := time.Since(start)
	t.Logf("hung ARM: reconcile failed after %v (budget %v, call timeout %v): %v", took.Round(time.Millisecond), testBudget, testCallTimeout, err)
	if err == nil || fault.Of(err) != fault.Retry {
		t.Errorf("reconcile: %v, want a transient fault", err)
	}
	if took > testBudget+slack {
		t.Errorf("failed after %v, want within the budget %v (+%v slack)", took, testBudget, slack)
	}
	if hungARM.Accepted() == 0 {
		t.Error("the reconcile never reached the frozen ARM endpoint")
	}
}
