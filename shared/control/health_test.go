package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/queue"
)

func (e *env) health(t *testing.T) flow.Health {
	t.Helper()
	var h flow.Health
	code := e.call(t, "GET", Prefix+"/health", "", &h)
	if (code == http.StatusOK) != (h.Status == "healthy") || (code != http.StatusOK && code != http.StatusServiceUnavailable) {
		t.Fatalf("health answered %d for %q", code, h.Status)
	}
	return h
}

// expireRan runs the expire timer as its function would, recorded as an invocation.
func (e *env) expireRan(t *testing.T) {
	t.Helper()
	_, err := e.app.Expire(t.Context(), zerolog.Nop())
	e.app.Invoked(t.Context(), zerolog.Nop(), "expire", err)
	if err != nil {
		t.Fatal(err)
	}
	e.queue.Wait()
}

func hasCause(h flow.Health, part string) bool {
	for _, c := range h.Causes {
		if strings.Contains(c, part) {
			return true
		}
	}
	return false
}

// Health is unhealthy, with the cause, when the expire timer has not run for two of
// its periods; healthy again once it runs.
func TestHealthExpireStopped(t *testing.T) {
	e := newEnv(t, nil, nil)
	if h := e.health(t); h.Status != "unhealthy" || !hasCause(h, "expire timer has not run") || !hasCause(h, "last success never") {
		t.Fatalf("before any run: %+v", h)
	}
	e.expireRan(t)
	if h := e.health(t); h.Status != "healthy" || len(h.Causes) != 0 || len(h.Functions) != 1 || h.Functions[0].Invocations != 1 {
		t.Fatalf("after a run: %+v", h)
	}
	e.clock.add(9 * time.Minute)
	if h := e.health(t); h.Status != "healthy" {
		t.Fatalf("within two periods: %+v", h)
	}
	e.clock.add(2 * time.Minute)
	if h := e.health(t); h.Status != "unhealthy" || !hasCause(h, "expire timer has not run") {
		t.Fatalf("after two periods: %+v", h)
	}
}

// dropQueue takes reconcile requests and does nothing with them: a remediate
// function that silently stopped.
type dropQueue struct{}

func (dropQueue) Send(context.Context, []queue.Message) error { return nil }

// A target whose desired state has differed for longer than the bound, with no
// successful reconcile, makes health unhealthy; a reconcile mends it.
func TestHealthTargetStale(t *testing.T) {
	e := newEnv(t, map[string]string{"APIGUARD_HEALTH_STALE_AFTER": "15m"}, func(d *flow.Deps) { d.Queue = dropQueue{} })
	e.expireRan(t) // the repair asks every target; nothing reconciles them
	if code := e.call(t, "POST", Prefix+"/blocks", `{"target": "45.153.180.1", "action": "block_waf", "duration": "4h", "reason": "r"}`, nil); code != 201 {
		t.Fatal(code)
	}
	h := e.health(t)
	if h.Status != "healthy" || len(h.Targets) != 2 || h.Targets[0].InSync || h.Targets[0].DiffersSince.IsZero() {
		t.Fatalf("just requested: %+v", h)
	}
	for range 4 { // the timer keeps running; the targets do not follow
		e.clock.add(4 * time.Minute)
		e.expireRan(t)
	}
	h = e.health(t)
	if h.Status != "unhealthy" || !hasCause(h, "has not held the desired state") || !hasCause(h, "no reconcile attempt") {
		t.Fatalf("stale: %+v", h)
	}
	for _, tg := range h.Targets {
		if _, err := e.app.Reconcile(t.Context(), zerolog.Nop(), tg.Target); err != nil {
			t.Fatal(err)
		}
	}
	if h := e.health(t); h.Status != "healthy" || !h.Targets[0].InSync || !h.Targets[1].InSync {
		t.Fatalf("after reconciles: %+v", h)
	}
}

type deadLetters map[string]int64

func (d deadLetters) DeadLetters(context.Context) (map[string]int64, error) { return d, nil }

// Dead-lettered messages make health unhealthy, naming the queue; the expire timer
// announces each change of status.
func TestHealthDeadLettersAnnounced(t *testing.T) {
	dl := deadLetters{"apiguard-reconcile": 0, "apiguard-traffic": 0}
	e := newEnv(t, nil, func(d *flow.Deps) { d.DeadLetters = dl })
	e.expireRan(t)
	if h := e.health(t); h.Status != "healthy" || h.DeadLetters["apiguard-traffic"] != 0 {
		t.Fatalf("no dead letters: %+v", h)
	}
	dl["apiguard-traffic"] = 3
	if h := e.health(t); h.Status != "unhealthy" || !hasCause(h, "apiguard-traffic holds 3 dead-lettered") {
		t.Fatalf("dead letters: %+v", h)
	}
	e.expireRan(t)
	var changes []notify.Event
	for _, ev := range e.notes.Events() {
		if ev.Type == notify.TypeHealthChanged {
			changes = append(changes, ev)
		}
	}
	if len(changes) != 2 || !strings.Contains(changes[0].Summary, "healthy (was unknown)") ||
		!strings.Contains(changes[1].Summary, "unhealthy (was healthy)") {
		t.Fatalf("health announcements: %+v", changes)
	}
	e.expireRan(t) // unchanged: not announced again
	n := 0
	for _, ev := range e.notes.Events() {
		if ev.Type == notify.TypeHealthChanged {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d announcements for two changes", n)
	}
}

// Notifications reach a CloudEvents receiver (parsed with the SDK) with the address,
// the reason and a link; a receiver that hangs or fails does not slow a decision, and
// a delivery that finally fails shows in health.
func TestNotificationsNeverSlowDecisions(t *testing.T) {
	var mu sync.Mutex
	var got []cloudevents.Event
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cloudevents.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("not a CloudEvent: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, *ev)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer good.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer failing.Close()
	targets, err := notify.ParseTargets(`[{"name": "good", "url": "`+good.URL+`", "kind": "cloudevents"},
		{"name": "hanging", "url": "`+hanging.URL+`", "kind": "cloudevents"},
		{"name": "failing", "url": "`+failing.URL+`", "kind": "slack"}]`, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var app *flow.App
	var disp *notify.Dispatcher
	e := newEnv(t, map[string]string{"APIGUARD_PUBLIC_URL": "https://apiguard.example.net/api"}, func(d *flow.Deps) {
		disp = notify.New(targets, notify.Options{Source: "/apiguard/test", Log: zerolog.Nop(), Timeout: 2 * time.Second, Attempts: 2,
			Backoff: 10 * time.Millisecond, OnFailure: func(target string, _ notify.Event, err error) {
				app.NotifyFailed(context.Background(), zerolog.Nop(), target, err)
			}})
		d.Notify = disp
	})
	app = e.app
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = disp.Close(ctx) // the hanging receiver's event is given up
	}()

	// The same decision without targets is the baseline.
	quiet := newEnv(t, nil, nil)
	startQuiet := time.Now()
	quiet.alert(t, 1, "45.153.181.1")
	baseline := time.Since(startQuiet)
	start := time.Now()
	ans := e.alert(t, 1, "45.153.181.1")
	took := time.Since(start)
	t.Logf("decision with a hanging and a failing receiver: %s (without receivers: %s)", took, baseline)
	// A delivery on the decision's path would hold it for the hanging receiver's 2 s
	// attempt timeout at least; the margin below absorbs a loaded machine.
	if took > baseline+1500*time.Millisecond {
		t.Errorf("a decision took %s with a hanging receiver, %s without", took, baseline)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("good receiver got %d events", len(got))
	}
	ev := got[0]
	mu.Unlock()
	var data struct {
		Summary string            `json:"summary"`
		Links   map[string]string `json:"links"`
		Detail  flow.Block        `json:"detail"`
	}
	if err := json.Unmarshal(ev.Data(), &data); err != nil {
		t.Fatal(err)
	}
	incident := ans.Incidents[0].Incident.ID
	if ev.Type() != notify.TypeBlockCreated || ev.Subject() != "45.153.181.1" || ev.Source() != "/apiguard/test" ||
		!strings.Contains(data.Summary, "blocked at the edge") || data.Links["incident"] != "https://apiguard.example.net/api/v1/incidents/"+incident ||
		data.Detail.Target != "45.153.181.1" {
		t.Fatalf("event %s: %+v", ev, data)
	}
	// The failing receiver's delivery finally fails and is counted in health.
	deadline = time.Now().Add(5 * time.Second)
	for e.health(t).NotificationsFailed24h == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h := e.health(t); h.NotificationsFailed24h != 1 {
		t.Errorf("failed notifications in health: %d", h.NotificationsFailed24h)
	}
}
