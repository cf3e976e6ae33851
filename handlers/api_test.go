package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// The api function serves the control API from the host's envelope: the path, the
// query and the answer's status, headers and body come through.
func TestAPIFunctionUnderTheHost(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	if status, _ := postAlert(t, a, readFile(t, "../docs/examples/alert-arm.json"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	env, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"req": map[string]any{
			"Url": "https://apiguard.azurewebsites.net/api/v1/blocks?action=block_waf&limit=5", "Method": "GET",
			"Query": map[string]string{"action": "block_waf", "limit": "5"}, "Headers": map[string][]string{},
			"Params": map[string]string{"path": "blocks"},
		}},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "api"}},
	})
	code, ans := invokeHost(t, a.HostHandler(), "api", env)
	if code != http.StatusOK || ans.Outputs.Res.StatusCode != http.StatusOK || !strings.Contains(ans.Outputs.Res.Body, `"target":"45.153.160.140"`) ||
		ans.Outputs.Res.Headers["Content-Type"] != "application/json" {
		t.Fatalf("api: %d %+v", code, ans.Outputs.Res)
	}
	var page struct {
		Value []struct{ ID string }
	}
	_ = json.Unmarshal([]byte(ans.Outputs.Res.Body), &page)
	id := page.Value[0].ID
	// A block id with its CIDR-safe escaping, through the envelope's URL.
	env, _ = json.Marshal(map[string]any{
		"Data": map[string]any{"req": map[string]any{
			"Url": "https://apiguard.azurewebsites.net/api/v1/blocks/" + url.PathEscape(id), "Method": "GET",
			"Headers": map[string][]string{}, "Params": map[string]string{},
		}},
		"Metadata": map[string]any{},
	})
	if code, ans := invokeHost(t, a.HostHandler(), "api", env); code != http.StatusOK || ans.Outputs.Res.StatusCode != http.StatusOK {
		t.Fatalf("get %s: %d %+v", id, code, ans.Outputs.Res)
	}
}

// serve guards /api/v1/ with APIGUARD_API_KEY when one is set, and its front page is
// the console.
func TestServeAPIKey(t *testing.T) {
	a, _ := testApp(t, newClock(), map[string]string{"APIGUARD_API_KEY": "0123456789abcdef-key"})
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
	get := func(path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"no key", "/api/v1/blocks", nil, http.StatusUnauthorized},
		{"wrong key", "/api/v1/blocks", map[string]string{"Authorization": "Bearer 0123456789abcdef-kez"}, http.StatusUnauthorized},
		{"bearer", "/api/v1/blocks", map[string]string{"Authorization": "Bearer 0123456789abcdef-key"}, http.StatusOK},
		{"functions header", "/api/v1/blocks", map[string]string{"x-functions-key": "0123456789abcdef-key"}, http.StatusOK},
		{"code", "/api/v1/console?code=0123456789abcdef-key", nil, http.StatusOK},
	} {
		if code, body := get(c.path, c.hdr); code != c.want || strings.Contains(body, "0123456789abcdef") {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	// An unhealthy answer (503, the health document) is no failure of the api function.
	if code, _ := get("/api/v1/health", map[string]string{"x-functions-key": "0123456789abcdef-key"}); code != http.StatusServiceUnavailable {
		t.Fatalf("health before any expire run: %d", code)
	}
	if _, body := get("/api/v1/health", map[string]string{"x-functions-key": "0123456789abcdef-key"}); strings.Contains(body, `"last_failure"`) {
		t.Errorf("the health answer counted as a failure of the api function: %s", body)
	}
	// The other functions keep their own rules (loopback only).
	resp, err := http.Post(srv.URL+"/api/alerts", "application/json", strings.NewReader(string(readFile(t, "../docs/examples/alert-arm.json"))))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("alerts with a key set: %v %v", err, resp.StatusCode)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(srv.URL + "/")
	if err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/api/v1/console" {
		t.Errorf("front page: %v %v", err, resp)
	}
}
