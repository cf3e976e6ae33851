package fakearm

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestConditionsHold(t *testing.T) {
	const cur = `"AAAAAAAAAAE="`
	cases := []struct {
		name   string
		header http.Header
		exists bool
		holds  bool
	}{
		{"no condition, present", http.Header{}, true, true},
		{"no condition, absent", http.Header{}, false, true},
		{"If-Match current", http.Header{"If-Match": {cur}}, true, true},
		{"If-Match stale", http.Header{"If-Match": {`"stale"`}}, true, false},
		{"If-Match *, present", http.Header{"If-Match": {"*"}}, true, true},
		{"If-Match *, absent", http.Header{"If-Match": {"*"}}, false, false},
		{"If-Match on absent", http.Header{"If-Match": {cur}}, false, false},
		{"If-Match empty value", http.Header{"If-Match": {""}}, true, false},
		{"If-None-Match *, absent", http.Header{"If-None-Match": {"*"}}, false, true},
		{"If-None-Match *, present", http.Header{"If-None-Match": {"*"}}, true, false},
		{"If-None-Match current", http.Header{"If-None-Match": {cur}}, true, false},
		{"If-None-Match other", http.Header{"If-None-Match": {`"other"`}}, true, true},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodPut, "/x", nil)
		req.Header = c.header
		if got := conditionsOf(req).holds(cur, c.exists); got != c.holds {
			t.Errorf("%s: holds %v, want %v", c.name, got, c.holds)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	resp := Throttled("sub1", 1500*time.Millisecond).Response(req)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Request != req ||
		resp.Header.Get("Retry-After") != "2" || resp.Header.Get("Retry-After-Ms") != "1500" || resp.Header.Get("Date") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	body, _ := io.ReadAll(resp.Body)
	var wire struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err != nil || wire.Error.Code != "SubscriptionRequestsThrottled" || wire.Error.Message == "" {
		t.Fatalf("not an ARM error body: %s", body)
	}
	if h := Throttled("sub1", 3*time.Second).Header; h.Get("Retry-After") != "3" || h.Get("Retry-After-Ms") != "" {
		t.Fatalf("whole seconds: %v", h)
	}
}
