package envelope

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixturesDir holds payloads captured outside this repository; they are read in place,
// never copied in, and the tests skip when the checkout does not have them.
const fixturesDir = "../../../shared/fixtures/functions-envelopes"

func readFixture(t *testing.T, name string) *Request {
	t.Helper()
	f, err := os.Open(filepath.Join(fixturesDir, name))
	if os.IsNotExist(err) {
		t.Skipf("fixture %s absent (expected under %s next to the repository); skipping", name, fixturesDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, err := ReadRequest(f, 1<<20)
	if err != nil {
		t.Fatalf("ReadRequest(%s): %v", name, err)
	}
	return req
}

func TestFixtureServiceBusBatch(t *testing.T) {
	req := readFixture(t, "servicebus-batch.request.DERIVED.json")
	msgs, err := req.ServiceBus("msgs")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	want := []struct {
		id, body string
		count    int
		seq      int64
		enqueued time.Time
	}{
		{"m-1", `{"ts":"2026-01-01T05:59:58Z","api":"orders","status":429,"clientIp":"198.51.100.4"}`, 1, 118, utc(2026, 1, 1, 5, 59, 58, 123000000)},
		{"m-2", `{"ts":"2026-01-01T05:59:58Z","api":"orders","status":403,"clientIp":"198.51.100.4"}`, 2, 119, utc(2026, 1, 1, 5, 59, 58, 456000000)},
	}
	for i, w := range want {
		m := msgs[i]
		if m.MessageID != w.id || m.DeliveryCount != w.count || string(m.Body) != w.body ||
			m.SequenceNumber != w.seq || !m.EnqueuedTime.Equal(w.enqueued) ||
			m.SessionID != "tenant-7" || m.ContentType != "application/json" || m.Properties["tenant"] != "tenant-7" {
			t.Errorf("message %d = %+v (body %s), want %+v", i, m, m.Body, w)
		}
	}
	if s := req.Sys(); s.MethodName != "TrafficLogs" || !s.UtcNow.Equal(utc(2026, 1, 1, 5, 59, 59, 0)) {
		t.Errorf("Sys() = %+v", s)
	}
}

func TestFixtureServiceBusSingle(t *testing.T) {
	req := readFixture(t, "servicebus-single.request.json")
	msgs, err := req.ServiceBus("msg")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != "a1b2c3d4e5" || m.DeliveryCount != 1 {
		t.Errorf("MessageID, DeliveryCount = %q, %d; want a1b2c3d4e5, 1", m.MessageID, m.DeliveryCount)
	}
	const body = `{"ts":"2026-01-01T05:59:58Z","api":"orders","status":429,"clientIp":"198.51.100.4"}`
	if string(m.Body) != body || !json.Valid(m.Body) {
		t.Errorf("Body = %s, want %s", m.Body, body)
	}
	if m.LockToken != "6f1c2d3e-0000-0000-0000-000000000003" || m.CorrelationID != "corr-42" ||
		m.SessionID != "tenant-7" || m.SequenceNumber != 118 || !m.EnqueuedTime.Equal(utc(2026, 1, 1, 5, 59, 58, 0)) ||
		m.Properties["schema"] != "apilog/v1" {
		t.Errorf("system properties = %+v", m)
	}
}

func TestFixtureHTTP(t *testing.T) {
	req := readFixture(t, "http-trigger.request.json")
	hr, err := req.HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	if hr.Method != "POST" || hr.AuthLevel != "Function" {
		t.Errorf("Method, AuthLevel = %q, %q; want POST, Function", hr.Method, hr.AuthLevel)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Content-Length": "123",
		"User-Agent": "IcMBroadcaster/1.0", "X-Forwarded-For": "203.0.113.7:51234",
	} {
		if got := hr.Headers.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if hr.Query["code"] != "REDACTED" || hr.URL != "https://myapp.azurewebsites.net/api/AlertWebhook?code=REDACTED" {
		t.Errorf("URL, Query = %q, %v", hr.URL, hr.Query)
	}
	const body = `{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertRule":"waf-blocks-spike","severity":"Sev2","monitorCondition":"Fired"}}}`
	if string(hr.Body) != body {
		t.Errorf("Body = %s, want %s", hr.Body, body)
	}
	if s := req.Sys(); s.MethodName != "AlertWebhook" || !s.UtcNow.Equal(utc(2026, 1, 1, 6, 0, 0, 123456700)) {
		t.Errorf("Sys() = %+v", s)
	}
}

func TestFixtureTimer(t *testing.T) {
	req := readFixture(t, "timer-trigger.request.json")
	tm, err := req.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	want := Timer{Last: utc(2025, 12, 1, 6, 0, 0, 0), Next: utc(2026, 1, 1, 6, 0, 0, 0), LastUpdated: utc(2025, 12, 1, 6, 0, 0, 0)}
	if *tm != want {
		t.Errorf("Timer = %+v, want %+v", *tm, want)
	}
}

func TestFixtureCloudEvent(t *testing.T) {
	req := readFixture(t, "eventgrid-cloudevent.request.json")
	ev, err := req.CloudEvent("event")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "com.example.waf.rule.expired" || ev.ID != "3f1d0c4e-0000-0000-0000-000000000005" ||
		ev.Source != "/tenants/t7/waf" || !ev.Time.Equal(utc(2026, 1, 1, 6, 0, 0, 0)) {
		t.Errorf("event = %+v", ev)
	}
	var data struct{ PolicyID, Action string }
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Action != "expire" || data.PolicyID != "/subscriptions/000/resourceGroups/rg/providers/Microsoft.Network/frontdoorWebApplicationFirewallPolicies/p1" {
		t.Errorf("data = %+v", data)
	}
}

// TestFixtureResponses checks that Write produces the captured responses' JSON.
func TestFixtureResponses(t *testing.T) {
	for name, resp := range map[string]*Response{
		"http-trigger.response.json": func() *Response {
			r := &Response{}
			r.SetHTTP("res", HTTPResponse{StatusCode: 202, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"accepted":true}`})
			r.Log("alert accepted: %s", "waf-blocks-spike")
			return r
		}(),
		"timer-trigger.response.json": {Logs: []string{"triage done"}},
		"servicebus-output.response.json": {
			Outputs: map[string]any{"outQueue": []map[string]string{{"ruleId": "r1", "action": "block"}, {"ruleId": "r2", "action": "block"}}},
			Logs:    []string{"batch of 2 processed"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(fixturesDir, name))
			if os.IsNotExist(err) {
				t.Skipf("fixture %s absent (expected under %s); skipping", name, fixturesDir)
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := resp.Write(rec); err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, rec.Body.Bytes(), want)
		})
	}
}
