package control

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/record"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// testAPI is the control API over an in-memory application layer in enforce mode.
func testAPI(t testing.TB, settings map[string]string) (*API, *record.Memory, *clock) {
	t.Helper()
	env := map[string]string{"APIGUARD_MODE": "enforce"}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	store := record.NewMemory()
	app, err := flow.New(flow.Deps{Config: cfg, Store: store, Detect: detect.NewMemoryStore(1000, time.Hour), Now: c.now, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return New(app, Options{Log: zerolog.Nop(), Now: c.now, MaxBody: cfg.MaxBodyBytes}), store, c
}

// do sends one request to the API and decodes a JSON answer into out (when given).
func do(t *testing.T, a *API, method, target, body string, hdr map[string]string, out any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:7071"+target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d, answer not JSON: %v\n%s", method, target, w.Code, err, w.Body.String())
		}
	}
	return w
}

// The document is valid Swagger 2.0, and what it documents is what is served, both
// ways: every documented path and method reaches its route, and every route is
// documented.
func TestOpenAPI(t *testing.T) {
	a, _, _ := testAPI(t, nil)
	var doc map[string]any
	w := do(t, a, "GET", Prefix+"/openapi.json", "", nil, &doc)
	if w.Code != http.StatusOK {
		t.Fatalf("openapi.json: %d", w.Code)
	}
	raw := w.Body.Bytes()
	if len(raw) > 1<<20 {
		t.Errorf("document of %d bytes: a custom connector takes at most 1 MB", len(raw))
	}
	analyzed, err := loads.Analyzed(raw, "2.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Spec(analyzed, strfmt.Default); err != nil {
		t.Fatalf("not valid Swagger 2.0: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			documented[strings.ToUpper(method)+" "+path] = true
			id, _ := op.(map[string]any)["operationId"].(string)
			if id == "" || id[0] < 'A' || id[0] > 'Z' {
				t.Errorf("%s %s: operationId %q is not PascalCase", method, path, id)
			}
			// The route answers something other than "no route".
			target := Prefix + strings.NewReplacer("{id}", "x:y", "{prefix}", "203.0.113.0%2F24").Replace(path)
			w := do(t, a, strings.ToUpper(method), target, "", nil, nil)
			if w.Code == http.StatusMethodNotAllowed || bytes.Contains(w.Body.Bytes(), []byte("no route")) {
				t.Errorf("documented %s %s is not served: %d %s", method, path, w.Code, w.Body.String())
			}
		}
	}
	for _, r := range a.routes {
		if !documented[r.Method+" "+r.Path] {
			t.Errorf("served %s %s is not documented", r.Method, r.Path)
		}
	}
	if _, ok := doc["securityDefinitions"].(map[string]any)["apiKey"]; !ok {
		t.Error("no apiKey security definition")
	}
}

// Any request, however malformed, gets an answer the API documents: never a 5xx
// (nothing is down in memory), a problem document for every 4xx, JSON for every 2xx.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"POST", "/blocks", `{"target": "45.153.160.201", "action": "block_waf", "duration": "4h", "reason": "r"}`},
		{"POST", "/blocks", `{"target": "2001:db8::/32", "action": "block_apim", "duration": "1d", "reason": "r"}`},
		{"POST", "/blocks", `{"target": "sub", "kind": "user", "action": "throttle", "duration": "90m", "reason": "r"}`},
		{"GET", "/blocks?action=throttle&limit=2&continuation=x", ""},
		{"DELETE", "/blocks/block_waf:45.153.160.201", ""},
		{"POST", "/blocks/block_waf:1.2.3.4/extend", `{"duration": "1h"}`},
		{"POST", "/allowlist", `{"target": "45.153.160.0/24", "reason": "r", "duration": "1h"}`},
		{"DELETE", "/allowlist/45.153.160.0%2F24", ""},
		{"POST", "/decisions/inc-1.0/revert", `{"allow": "1h"}`},
		{"GET", "/audit?since=2026-11-23T00:00:00Z", ""},
		{"GET", "/incidents/%00", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	a, _, _ := testAPI(f, nil)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		switch method {
		case "GET", "POST", "DELETE":
		default:
			return
		}
		u, err := url.Parse("http://127.0.0.1:7071" + Prefix + path)
		if err != nil || !strings.HasPrefix(u.Path, Prefix+"/") {
			return
		}
		req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		switch {
		case w.Code >= 500:
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body.String())
		case w.Code >= 400:
			var p problem
			if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil ||
				!strings.HasPrefix(p.Type, problemBase) || p.Status != w.Code {
				t.Fatalf("%s %s: %d without a problem document: %s", method, path, w.Code, w.Body.String())
			}
		case w.Code == http.StatusNoContent:
		case w.Header().Get("Content-Type") == "application/json":
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %s: invalid JSON answer", method, path)
			}
		}
	})
}
