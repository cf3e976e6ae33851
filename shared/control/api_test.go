package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// env is the control API over the application layer on the test Azurite, enforcing
// into a local WAF policy file and a local APIM directory (as make run does) through
// serve's in-process queue.
type env struct {
	api   *API
	app   *flow.App
	store *record.Store
	clock *syncClock
	queue *queue.Memory
	notes *notify.Memory
	waf   string // the WAF policy file
	frag  string // the APIM fragment file
}

type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *syncClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newEnv builds an env; settings override enforce mode and the local targets, and
// with adjusts the application's dependencies.
func newEnv(t *testing.T, settings map[string]string, with func(d *flow.Deps)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{clock: &syncClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}, notes: &notify.Memory{},
		waf: filepath.Join(dir, "waf.json"), frag: filepath.Join(dir, "apim", "fragments", "apiguard-enforce.xml")}
	vars := map[string]string{
		"APIGUARD_MODE":                    "enforce",
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
		"APIGUARD_JITTER":                  "0",
		"APIGUARD_WAF_TARGETS":             fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, e.waf),
		"APIGUARD_APIM_TARGETS":            fmt.Sprintf(`[{"dir": %q, "enforce": ["block_apim", "throttle", "block_waf"]}]`, filepath.Join(dir, "apim")),
	}
	for k, v := range settings {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = record.New(record.Options{ConnectionString: azuritetest.ConnectionString(t), TablePrefix: azuritetest.TablePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	testCtx := t.Context()
	e.queue = queue.NewMemory(testCtx, 0, func(ctx context.Context, target string, _ []queue.Message) error {
		_, err := e.app.Reconcile(ctx, zerolog.Nop(), target)
		return err
	}, func(target string, err error) {
		// The test ended with work queued: the error is the end's (a cancelled call, a
		// table already gone), and reporting it after the test returned would panic.
		if testCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			t.Errorf("reconcile %s: %v", target, err)
		}
	})
	deps := flow.Deps{Config: cfg, Store: e.store, Detect: e.store.DetectStates(), Queue: e.queue, Now: e.clock.now,
		Notify: e.notes, Log: zerolog.Nop(), Sleep: func(context.Context, time.Duration) error { return nil }}
	if with != nil {
		with(&deps)
	}
	if e.app, err = flow.New(deps); err != nil {
		t.Fatal(err)
	}
	e.api = New(e.app, Options{Log: zerolog.Nop(), Now: e.clock.now, MaxBody: cfg.MaxBodyBytes, Keys: e.store})
	return e
}

// call sends one request and decodes the answer into out when given.
func (e *env) call(t *testing.T, method, target, body string, out any, hdr ...string) int {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h[hdr[i]] = hdr[i+1]
	}
	w := do(t, e.api, method, target, body, h, nil)
	if out != nil && w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d: %v\n%s", method, target, w.Code, err, w.Body.String())
		}
	}
	return w.Code
}

// alert decides one Defender alert for ip, as the alerts function would.
func (e *env) alert(t *testing.T, n int, ip string) flow.AlertsAnswer {
	t.Helper()
	body := fmt.Sprintf(`{"id":"/subscriptions/s/providers/Microsoft.Security/locations/westeurope/alerts/a%d","name":"a%d",
"properties":{"alertType":"API_AccessFromSuspiciousIP","systemAlertId":"sys-%04d","severity":"High","startTimeUtc":"2026-11-23T11:00:00Z",
"entities":[{"$id":"1","type":"ip","address":%q}]}}`, n, n, n, ip)
	ans, err := e.app.Alerts(t.Context(), zerolog.Nop(), []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.queue.Wait()
	return ans.(flow.AlertsAnswer)
}

func (e *env) enforced(t *testing.T) (waf, fragment string) {
	t.Helper()
	e.queue.Wait()
	w, _ := os.ReadFile(e.waf)
	f, _ := os.ReadFile(e.frag)
	return string(w), string(f)
}

type problemView struct {
	Type, Title, Detail, Field string
	Status                     int
}

func TestBlocksEndToEnd(t *testing.T) {
	e := newEnv(t, nil, nil)
	var b flow.Block
	if code := e.call(t, "POST", Prefix+"/blocks", `{"target": "45.153.160.201", "action": "block_waf", "duration": "4h", "reason": "manual"}`, &b,
		"X-Apiguard-Actor", "alice"); code != http.StatusCreated || b.ID != "block_waf:45.153.160.201" || b.Mode != "enforce" ||
		!b.Expires.Equal(e.clock.now().Add(4*time.Hour)) || b.Source != "operator:alice" {
		t.Fatalf("create: %d %+v", code, b)
	}
	if w, f := e.enforced(t); !strings.Contains(w, "45.153.160.201") || !strings.Contains(f, "45.153.160.201") {
		t.Fatalf("not enforced:\n%s\n%s", w, f)
	}
	var page Page[flow.Block]
	if code := e.call(t, "GET", Prefix+"/blocks?action=block_waf&source=operator", "", &page); code != 200 || len(page.Value) != 1 {
		t.Fatalf("list: %d %+v", code, page)
	}
	if code := e.call(t, "GET", Prefix+"/blocks?source=inc-none", "", &page); code != 200 || len(page.Value) != 0 {
		t.Fatalf("filtered list: %d %+v", code, page)
	}
	if code := e.call(t, "GET", Prefix+"/blocks/block_waf:45.153.160.201", "", &b); code != 200 || b.Target != "45.153.160.201" {
		t.Fatalf("get: %d %+v", code, b)
	}
	if code := e.call(t, "POST", Prefix+"/blocks/block_waf:45.153.160.201/extend", `{"duration": "2h"}`, &b); code != 200 ||
		!b.Expires.Equal(e.clock.now().Add(6*time.Hour)) {
		t.Fatalf("extend: %d %+v", code, b)
	}
	// A CIDR, addressed with its slash escaped.
	if code := e.call(t, "POST", Prefix+"/blocks", `{"target": "45.153.161.0/24", "action": "block_waf", "duration": "1h", "reason": "range"}`, &b); code != 201 {
		t.Fatalf("cidr: %d", code)
	}
	if code := e.call(t, "DELETE", Prefix+"/blocks/"+url.PathEscape("block_waf:45.153.161.0/24"), "", &b); code != 200 || b.Kind != "cidr" {
		t.Fatalf("delete cidr: %d %+v", code, b)
	}
	// An identity is throttled at the gateway.
	if code := e.call(t, "POST", Prefix+"/blocks", `{"target": "sub-42", "kind": "subscription", "action": "throttle", "duration": "1h", "reason": "noisy"}`, &b); code != 201 || b.Kind != "subscription" {
		t.Fatalf("throttle identity: %d %+v", code, b)
	}
	if _, f := e.enforced(t); !strings.Contains(f, "sub-42") {
		t.Fatalf("throttle not in the fragment:\n%s", f)
	}
	// Unblock now: the WAF file and the fragment lose the address.
	if code := e.call(t, "DELETE", Prefix+"/blocks/block_waf:45.153.160.201", "", &b); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if w, f := e.enforced(t); strings.Contains(w, "45.153.160.201") || strings.Contains(f, "45.153.160.201") {
		t.Fatalf("still enforced after delete:\n%s\n%s", w, f)
	}
	var p problemView
	if code := e.call(t, "GET", Prefix+"/blocks/block_waf:45.153.160.201", "", &p); code != 404 || p.Type != problemBase+"not-found" {
		t.Fatalf("get deleted: %d %+v", code, p)
	}
	// The audit names who did what.
	var audit Page[flow.AuditEntry]
	if code := e.call(t, "GET", Prefix+"/audit?target=45.153.160.201", "", &audit); code != 200 || len(audit.Value) != 3 ||
		audit.Value[0].Kind != "block.created" || audit.Value[0].Actor != "operator:alice" || audit.Value[2].Kind != "block.removed" {
		t.Fatalf("audit: %d %+v", code, audit.Value)
	}
}

func TestBadInputIsNamed(t *testing.T) {
	e := newEnv(t, map[string]string{"APIGUARD_ALLOW_CIDRS": "81.2.0.0/16", "APIGUARD_MAX_BODY_BYTES": "2048"}, nil)
	block := func(target, action, duration, reason string) string {
		return fmt.Sprintf(`{"target": %q, "action": %q, "duration": %q, "reason": %q}`, target, action, duration, reason)
	}
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		typ, field               string
		hdr                      []string
	}{
		{"no body", "POST", "/blocks", "", 400, "invalid-body", "", nil},
		{"not JSON", "POST", "/blocks", "{", 400, "invalid-body", "", nil},
		{"unknown field", "POST", "/blocks", `{"target": "45.153.160.1", "actoin": "block_waf"}`, 400, "invalid-body", "", nil},
		{"two values", "POST", "/blocks", block("45.153.160.1", "block_waf", "1h", "x") + "{}", 400, "invalid-body", "", nil},
		{"bad action", "POST", "/blocks", block("45.153.160.1", "nuke", "1h", "x"), 400, "invalid-parameter", "action", nil},
		{"skip is no action", "POST", "/blocks", block("45.153.160.1", "skip", "1h", "x"), 400, "invalid-parameter", "action", nil},
		{"bad address", "POST", "/blocks", block("45.153.160.999", "block_waf", "1h", "x"), 400, "invalid-parameter", "target", nil},
		{"address and junk", "POST", "/blocks", block("45.153.160.1 junk", "block_waf", "1h", "x"), 400, "invalid-parameter", "target", nil},
		{"host bits", "POST", "/blocks", block("45.153.160.7/24", "block_waf", "1h", "x"), 400, "invalid-parameter", "target", nil},
		{"prefix zero", "POST", "/blocks", block("0.0.0.0/0", "block_waf", "1h", "x"), 422, "refused", "target", nil},
		{"private", "POST", "/blocks", block("10.1.2.3", "block_waf", "1h", "x"), 422, "refused", "target", nil},
		{"allow-listed", "POST", "/blocks", block("81.2.3.4", "block_waf", "1h", "x"), 422, "refused", "target", nil},
		{"platform", "POST", "/blocks", block("168.63.129.16", "block_apim", "1h", "x"), 422, "refused", "target", nil},
		{"identity blocked", "POST", "/blocks", `{"target": "sub-1", "kind": "subscription", "action": "block_waf", "duration": "1h", "reason": "x"}`, 400, "invalid-parameter", "action", nil},
		{"range throttled", "POST", "/blocks", block("45.153.160.0/24", "throttle", "1h", "x"), 400, "invalid-parameter", "target", nil},
		{"bad kind", "POST", "/blocks", `{"target": "x", "kind": "planet", "action": "throttle", "duration": "1h", "reason": "x"}`, 400, "invalid-parameter", "kind", nil},
		{"bad duration", "POST", "/blocks", block("45.153.160.1", "block_waf", "forever", "x"), 400, "invalid-parameter", "duration", nil},
		{"too short", "POST", "/blocks", block("45.153.160.1", "block_waf", "5s", "x"), 400, "invalid-parameter", "duration", nil},
		{"too long", "POST", "/blocks", block("45.153.160.1", "block_waf", "30d", "x"), 400, "invalid-parameter", "duration", nil},
		{"no reason", "POST", "/blocks", block("45.153.160.1", "block_waf", "1h", " "), 400, "invalid-parameter", "reason", nil},
		{"reason control chars", "POST", "/blocks", `{"target": "45.153.160.1", "action": "block_waf", "duration": "1h", "reason": "a\u0001b"}`, 400, "invalid-parameter", "reason", nil},
		{"too large", "POST", "/blocks", `{"target": "` + strings.Repeat("a", 3000) + `"}`, 413, "too-large", "", nil},
		{"not JSON media", "POST", "/blocks", block("45.153.160.1", "block_waf", "1h", "x"), 415, "unsupported-media-type", "", []string{"Content-Type", "text/plain"}},
		{"bad actor", "GET", "/blocks", "", 400, "invalid-parameter", "X-Apiguard-Actor", []string{"X-Apiguard-Actor", strings.Repeat("a", 65)}},
		{"bad block id", "GET", "/blocks/nonsense", "", 400, "invalid-parameter", "id", nil},
		{"unknown block", "GET", "/blocks/block_waf:45.153.160.1", "", 404, "not-found", "", nil},
		{"bad filter", "GET", "/blocks?action=nuke", "", 400, "invalid-parameter", "action", nil},
		{"bad limit", "GET", "/blocks?limit=0", "", 400, "invalid-parameter", "limit", nil},
		{"huge limit", "GET", "/blocks?limit=100000", "", 400, "invalid-parameter", "limit", nil},
		{"forged token", "GET", "/blocks?continuation=Zm9v", "", 400, "invalid-parameter", "continuation", nil},
		{"bad since", "GET", "/audit?since=yesterday", "", 400, "invalid-parameter", "since", nil},
		{"inverted range", "GET", "/audit?since=2026-11-23T12:00:00Z&until=2026-11-22T12:00:00Z", "", 400, "invalid-parameter", "until", nil},
		{"range too wide", "GET", "/incidents?since=2025-01-01T00:00:00Z", "", 400, "invalid-parameter", "since", nil},
		{"bad status", "GET", "/decisions?status=maybe", "", 400, "invalid-parameter", "status", nil},
		{"bad decision id", "GET", "/decisions/nodot", "", 400, "invalid-parameter", "id", nil},
		{"unknown decision", "POST", "/decisions/inc-0.0/approve", "", 404, "not-found", "", nil},
		{"bad allow entry", "POST", "/allowlist", `{"target": "nope", "reason": "x"}`, 400, "invalid-parameter", "target", nil},
		{"unknown allow entry", "DELETE", "/allowlist/" + url.PathEscape("203.0.113.0/24"), "", 404, "not-found", "", nil},
		{"long idempotency key", "POST", "/blocks", block("45.153.160.1", "block_waf", "1h", "x"), 400, "invalid-parameter", "Idempotency-Key", []string{"Idempotency-Key", strings.Repeat("k", 201)}},
		{"no route", "GET", "/nothing", "", 404, "not-found", "", nil},
		{"wrong method", "PUT", "/blocks", "", 404, "not-found", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p problemView
			w := do(t, e.api, c.method, Prefix+c.path, c.body, pairs(c.hdr), &p)
			if w.Code != c.status || p.Type != problemBase+c.typ || p.Field != c.field || p.Status != c.status || p.Detail == "" ||
				w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("%d %s: %+v", w.Code, w.Header().Get("Content-Type"), p)
			}
		})
	}
	// Nothing was written by any of them.
	if bs, err := e.store.ListBlocks(t.Context(), "block_waf"); err != nil || len(bs) != 0 {
		t.Errorf("blocks after refused requests: %v %v", bs, err)
	}
}

func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Pages follow nextLink to the end; a token only continues the list it came from.
func TestPaging(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i := range 7 {
		if code := e.call(t, "POST", Prefix+"/blocks", fmt.Sprintf(`{"target": "45.153.170.%d", "action": "block_waf", "duration": "1h", "reason": "r"}`, i+1), nil); code != 201 {
			t.Fatal(code)
		}
	}
	next := Prefix + "/blocks?action=block_waf&limit=3"
	var seen []string
	pages := 0
	for next != "" {
		var p Page[flow.Block]
		u, _ := url.Parse(next)
		if code := e.call(t, "GET", u.RequestURI(), "", &p); code != 200 {
			t.Fatalf("page %d: %d", pages, code)
		}
		for _, b := range p.Value {
			seen = append(seen, b.Target)
		}
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, "http://127.0.0.1:7071/api/v1/blocks?") {
			t.Fatalf("nextLink %q is not absolute", p.NextLink)
		}
		next, pages = p.NextLink, pages+1
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("%d pages, %v", pages, seen)
	}
	var first Page[flow.Block]
	e.call(t, "GET", Prefix+"/blocks?action=block_waf&limit=3", "", &first)
	u, _ := url.Parse(first.NextLink)
	token := u.Query().Get("continuation")
	var p problemView
	if code := e.call(t, "GET", Prefix+"/blocks?action=throttle&continuation="+token, "", &p); code != 400 || p.Field != "continuation" {
		t.Errorf("token moved to another filter: %d %+v", code, p)
	}
}

// A POST or DELETE retried with its Idempotency-Key acts once and answers the same.
func TestIdempotentRetries(t *testing.T) {
	e := newEnv(t, nil, nil)
	body := `{"target": "45.153.171.1", "action": "block_waf", "duration": "4h", "reason": "once"}`
	var a, b flow.Block
	w1 := do(t, e.api, "POST", Prefix+"/blocks", body, map[string]string{"Idempotency-Key": "k-1"}, &a)
	e.clock.add(time.Minute)
	w2 := do(t, e.api, "POST", Prefix+"/blocks", body, map[string]string{"Idempotency-Key": "k-1"}, &b)
	if w1.Code != 201 || w2.Code != 201 || a != b || w2.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %d\n%+v\n%+v", w1.Code, w2.Code, a, b)
	}
	var audit Page[flow.AuditEntry]
	e.call(t, "GET", Prefix+"/audit?target=45.153.171.1", "", &audit)
	if len(audit.Value) != 1 {
		t.Errorf("a retried POST acted %d times", len(audit.Value))
	}
	var p problemView
	if code := e.call(t, "POST", Prefix+"/blocks", strings.Replace(body, "4h", "5h", 1), &p, "Idempotency-Key", "k-1"); code != 422 ||
		p.Type != problemBase+"idempotency-key-reused" {
		t.Errorf("same key, other body: %d %+v", code, p)
	}
	// A DELETE retried answers as the first time, not 404.
	var d1, d2 flow.Block
	if c1, c2 := e.call(t, "DELETE", Prefix+"/blocks/block_waf:45.153.171.1", "", &d1, "Idempotency-Key", "k-2"),
		e.call(t, "DELETE", Prefix+"/blocks/block_waf:45.153.171.1", "", &d2, "Idempotency-Key", "k-2"); c1 != 200 || c2 != 200 || d1 != d2 {
		t.Errorf("retried delete: %d %d", c1, c2)
	}
	// Without a key a retry acts again: a second DELETE finds nothing.
	if code := e.call(t, "DELETE", Prefix+"/blocks/block_waf:45.153.171.1", "", nil); code != 404 {
		t.Errorf("keyless second delete: %d", code)
	}
}

// A redelivered finding or alert after an operator's revert must not count again;
// revert takes the block out of the WAF file and the fragment, and allow keeps it out.
func TestRevert(t *testing.T) {
	e := newEnv(t, nil, nil)
	ans := e.alert(t, 1, "45.153.172.1")
	id := flow.DecisionID(ans.Incidents[0].Incident.ID, 0)
	if w, f := e.enforced(t); !strings.Contains(w, "45.153.172.1") || !strings.Contains(f, "45.153.172.1") {
		t.Fatal("the alert's block is not enforced")
	}
	var d flow.Decision
	if code := e.call(t, "GET", Prefix+"/decisions/"+id, "", &d); code != 200 || d.Status != "enforced" {
		t.Fatalf("decision: %d %+v", code, d)
	}
	if code := e.call(t, "POST", Prefix+"/decisions/"+id+"/revert", `{"reason": "false positive"}`, &d); code != 200 || d.Status != "reverted" {
		t.Fatalf("revert: %d %+v", code, d)
	}
	if w, f := e.enforced(t); strings.Contains(w, "45.153.172.1") || strings.Contains(f, "45.153.172.1") {
		t.Fatal("still enforced after revert")
	}
	// Escalation no longer counts it: the next alert starts from no earlier offence.
	e.clock.add(time.Hour)
	again := e.alert(t, 2, "45.153.172.1")
	if got := again.Incidents[0].Decisions[0]; got.Offences != 0 || got.Seconds != 24*3600 {
		t.Fatalf("after revert the next alert escalated: %+v", got)
	}
	// Revert with allow: the address stays unblocked while the entry lasts.
	id2 := flow.DecisionID(again.Incidents[0].Incident.ID, 0)
	if code := e.call(t, "POST", Prefix+"/decisions/"+id2+"/revert", `{"allow": "24h"}`, &d); code != 200 {
		t.Fatalf("revert with allow: %d", code)
	}
	third := e.alert(t, 3, "45.153.172.1")
	if got := third.Incidents[0].Decisions[0]; got.Action != "skip" || !strings.Contains(got.Reason, "allow-listed") {
		t.Fatalf("allow-listed address decided %+v", got)
	}
	if code := e.call(t, "POST", Prefix+"/decisions/"+id2+"/revert", `{}`, &d); code != 200 || d.Status != "reverted" {
		t.Errorf("revert again (a retry): %d %+v", code, d)
	}
	var p problemView
	if code := e.call(t, "POST", Prefix+"/decisions/"+id2+"/approve", "", &p); code != 409 {
		t.Errorf("approve a reverted decision: %d %+v", code, p)
	}
}

func TestApproval(t *testing.T) {
	e := newEnv(t, map[string]string{"APIGUARD_MODE": "approve"}, nil)
	first := e.alert(t, 1, "45.153.173.1")
	id := flow.DecisionID(first.Incidents[0].Incident.ID, 0)
	if d := first.Incidents[0].Decisions[0]; d.Mode != "approve" {
		t.Fatalf("decision %+v", d)
	}
	if w, _ := e.enforced(t); strings.Contains(w, "45.153.173.1") {
		t.Fatal("a pending decision was enforced")
	}
	var pending Page[flow.Decision]
	if code := e.call(t, "GET", Prefix+"/decisions?status=pending", "", &pending); code != 200 || len(pending.Value) != 1 || pending.Value[0].ID != id {
		t.Fatalf("pending: %d %+v", code, pending)
	}
	if evs := e.notes.Events(); len(evs) != 1 || evs[0].Type != notify.TypeDecisionPending || !strings.HasSuffix(evs[0].Links["approve"], "/v1/decisions/"+url.PathEscape(id)+"/approve") {
		t.Fatalf("announcement: %+v", evs)
	}
	e.clock.add(time.Hour)
	var d flow.Decision
	if code := e.call(t, "POST", Prefix+"/decisions/"+id+"/approve", "", &d, "X-Apiguard-Actor", "bob"); code != 200 || d.Status != "enforced" ||
		d.Mode != "enforce" || !d.Expires.Equal(e.clock.now().Add(24*time.Hour)) {
		t.Fatalf("approve: %d %+v", code, d)
	}
	if w, _ := e.enforced(t); !strings.Contains(w, "45.153.173.1") {
		t.Fatal("approved decision not enforced")
	}
	if code := e.call(t, "POST", Prefix+"/decisions/"+id+"/approve", "", &d); code != 200 || d.Status != "enforced" {
		t.Errorf("approve again: %d", code)
	}

	// Reject: nothing enforced, and the offence no longer counts.
	second := e.alert(t, 2, "45.153.173.2")
	id2 := flow.DecisionID(second.Incidents[0].Incident.ID, 0)
	if code := e.call(t, "POST", Prefix+"/decisions/"+id2+"/reject", `{"reason": "our scanner"}`, &d); code != 200 || d.Status != "rejected" {
		t.Fatalf("reject: %d %+v", code, d)
	}
	if n, _ := e.store.CountOffences(t.Context(), "45.153.173.2", e.clock.now().Add(-time.Hour*48), ""); n != 0 {
		t.Errorf("rejected decision still counts %d offences", n)
	}
	var p problemView
	if code := e.call(t, "POST", Prefix+"/decisions/"+id2+"/approve", "", &p); code != 409 || p.Type != problemBase+"conflict" {
		t.Errorf("approve a rejected decision: %d %+v", code, p)
	}

	// Allow-listed meanwhile: refused, and rejected with the reason.
	third := e.alert(t, 3, "45.153.173.3")
	id3 := flow.DecisionID(third.Incidents[0].Incident.ID, 0)
	if code := e.call(t, "POST", Prefix+"/allowlist", `{"target": "45.153.173.0/24", "reason": "partner", "duration": "7d"}`, nil); code != 201 {
		t.Fatalf("allow: %d", code)
	}
	if code := e.call(t, "POST", Prefix+"/decisions/"+id3+"/approve", "", &p); code != 422 || p.Type != problemBase+"refused" || !strings.Contains(p.Detail, "allow-listed") {
		t.Errorf("approve an allow-listed target: %d %+v", code, p)
	}
	if code := e.call(t, "GET", Prefix+"/decisions/"+id3, "", &d); code != 200 || d.Status != "rejected" {
		t.Errorf("after the refusal: %+v", d)
	}

	// Lapse: unanswered past APIGUARD_APPROVAL_TTL, the expire timer lapses it.
	fourth := e.alert(t, 4, "45.153.174.4")
	id4 := flow.DecisionID(fourth.Incidents[0].Incident.ID, 0)
	e.clock.add(25 * time.Hour)
	if _, err := e.app.Expire(t.Context(), zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if code := e.call(t, "GET", Prefix+"/decisions/"+id4, "", &d); code != 200 || d.Status != "lapsed" {
		t.Fatalf("after the TTL: %d %+v", code, d)
	}
	if code := e.call(t, "POST", Prefix+"/decisions/"+id4+"/approve", "", &p); code != 409 {
		t.Errorf("approve a lapsed decision: %d", code)
	}
}

func TestAllowlistRevertsCurrentBlocks(t *testing.T) {
	e := newEnv(t, map[string]string{"APIGUARD_ALLOW_CIDRS": "198.18.0.0/15"}, nil)
	e.alert(t, 1, "45.153.175.1")
	e.alert(t, 2, "45.153.175.2")
	e.alert(t, 3, "45.153.176.1")
	var entry flow.AllowEntry
	if code := e.call(t, "POST", Prefix+"/allowlist", `{"target": "45.153.175.0/24", "reason": "partner range"}`, &entry); code != 201 ||
		entry.Prefix != "45.153.175.0/24" || !entry.Expires.IsZero() {
		t.Fatalf("add: %d %+v", code, entry)
	}
	w, f := e.enforced(t)
	if strings.Contains(w, "45.153.175.") || strings.Contains(f, "45.153.175.") || !strings.Contains(w, "45.153.176.1") {
		t.Fatalf("covered blocks not reverted, or others touched:\n%s", w)
	}
	if n, _ := e.store.CountOffences(t.Context(), "45.153.175.1", e.clock.now().Add(-48*time.Hour), ""); n != 0 {
		t.Errorf("reverted block's offence counts %d", n)
	}
	var list Page[flow.AllowEntry]
	if code := e.call(t, "GET", Prefix+"/allowlist", "", &list); code != 200 || len(list.Value) != 2 || !list.Value[0].Configured {
		t.Fatalf("list: %d %+v", code, list.Value)
	}
	if code := e.call(t, "DELETE", Prefix+"/allowlist/"+url.PathEscape("45.153.175.0/24"), "", nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	if code := e.call(t, "DELETE", Prefix+"/allowlist/"+url.PathEscape("45.153.175.0/24"), "", nil); code != 404 {
		t.Errorf("remove again: %d", code)
	}
	if code := e.call(t, "DELETE", Prefix+"/allowlist/"+url.PathEscape("198.18.0.0/15"), "", nil); code != 404 {
		t.Errorf("remove a configured entry: %d", code)
	}
}

func TestIncidents(t *testing.T) {
	e := newEnv(t, nil, nil)
	ans := e.alert(t, 1, "45.153.177.1")
	incID := ans.Incidents[0].Incident.ID
	var list Page[flow.Incident]
	if code := e.call(t, "GET", Prefix+"/incidents?since=2026-11-22T00:00:00Z&source=alert", "", &list); code != 200 || len(list.Value) != 1 ||
		list.Value[0].ID != incID || list.Value[0].Addresses[0] != "45.153.177.1" || len(list.Value[0].Decisions) != 0 {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := e.call(t, "GET", Prefix+"/incidents?since=2026-11-22T00:00:00Z&source=finding", "", &list); code != 200 || len(list.Value) != 0 {
		t.Fatalf("findings: %d %+v", code, list)
	}
	var inc flow.Incident
	if code := e.call(t, "GET", Prefix+"/incidents/"+incID, "", &inc); code != 200 || len(inc.Decisions) != 1 ||
		inc.Decisions[0].Status != "enforced" || !strings.Contains(string(inc.Evidence), "sys-0001") {
		t.Fatalf("incident: %d %+v", code, inc)
	}
	if code := e.call(t, "GET", Prefix+"/incidents/inc-unknown", "", nil); code != 404 {
		t.Errorf("unknown incident: %d", code)
	}
}
