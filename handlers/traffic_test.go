package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/envelope"
)

// combinedLines is n combined-format requests from addr, one second apart from start.
func combinedLines(addr string, n int, start time.Time, path string, status int) string {
	var b strings.Builder
	for i := range n {
		t := start.Add(time.Duration(i) * time.Second)
		fmt.Fprintf(&b, "%s - - [%s] \"GET %s HTTP/1.1\" %d 512 \"-\" \"curl/8.5.0\"\n", addr, t.Format("02/Jan/2006:15:04:05 -0700"), path, status)
	}
	return b.String()
}

type ingestAnswer struct {
	Records  int `json:"records"`
	Findings []struct {
		Detector string `json:"detector"`
		KeyType  string `json:"key_type"`
		Key      string `json:"key"`
	} `json:"findings"`
	Incidents []struct {
		Decisions []struct {
			Action string `json:"action"`
		} `json:"decisions"`
		Duplicate bool `json:"duplicate"`
	} `json:"incidents"`
	SetAside []struct {
		Reason string `json:"reason"`
	} `json:"set_aside"`
}

func postIngest(t *testing.T, a *env, body, key string) (int, ingestAnswer) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	req := &envelope.HTTPRequest{Method: http.MethodPost, Headers: h, Query: map[string]string{}, Body: []byte(body)}
	out := ingestHTTP(a.App, t.Context(), a.Log, req)
	var ans ingestAnswer
	if out.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(out.Body), &ans); err != nil {
			t.Fatalf("%v: %s", err, out.Body)
		}
	}
	return out.StatusCode, ans
}

// Counts add up across batches, a redelivered batch is not counted twice, and a flood
// split over batches is found and decided.
func TestIngestCountsAcrossBatchesOnce(t *testing.T) {
	c := newClock()
	a, store := testApp(t, c, map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000"})
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	first := combinedLines("45.153.160.50", 60, start, "/api/orders", 200)
	second := combinedLines("45.153.160.50", 60, start.Add(60*time.Second), "/api/orders", 200)

	code, ans := postIngest(t, a, first, "batch-1")
	if code != http.StatusOK || ans.Records != 60 || len(ans.Findings) != 0 {
		t.Fatalf("first batch: %d %+v", code, ans)
	}
	// The same batch again: 120 requests if counted twice, over the flood threshold.
	code, ans = postIngest(t, a, first, "batch-1")
	if code != http.StatusOK || len(ans.Findings) != 0 {
		t.Fatalf("redelivered batch counted again: %d %+v", code, ans)
	}
	// Another 60 in the same five minutes: 120 in all, a flood.
	code, ans = postIngest(t, a, second, "batch-2")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	var flood bool
	for _, f := range ans.Findings {
		flood = flood || (f.Detector == "flood" && f.KeyType == "ip" && f.Key == "45.153.160.50")
	}
	if !flood || len(ans.Incidents) == 0 || len(ans.Incidents[0].Decisions) == 0 {
		t.Fatalf("flood split over two batches not found and decided: %+v", ans)
	}
	if got := ans.Incidents[0].Decisions[0].Action; got != "throttle" {
		t.Errorf("first flood of an address: %s, want throttle", got)
	}
	blocks, err := store.ListBlocks(t.Context(), "throttle")
	if err != nil || len(blocks) != 1 || blocks[0].Target != "45.153.160.50" {
		t.Errorf("desired throttles %+v (%v)", blocks, err)
	}
}

func TestIngestRejectsClearly(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	if code, _ := postIngest(t, a, "", ""); code != http.StatusBadRequest {
		t.Errorf("empty body: %d", code)
	}
	// One bad line among good ones: set aside with a reason, the rest counted.
	body := combinedLines("45.153.160.51", 3, time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC), "/", 200) + "this is not a log line\n"
	code, ans := postIngest(t, a, body, "")
	if code != http.StatusOK || ans.Records != 3 || len(ans.SetAside) != 1 || ans.SetAside[0].Reason == "" {
		t.Errorf("%d %+v", code, ans)
	}
}

// The traffic function takes a Service Bus batch envelope; each message is one batch.
func TestTrafficQueueEnvelope(t *testing.T) {
	a, _ := testApp(t, newClock(), map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000"})
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	bodies := []string{
		combinedLines("45.153.160.52", 70, start, "/api/items", 200),
		combinedLines("45.153.160.52", 70, start.Add(70*time.Second), "/api/items", 200),
	}
	data, _ := json.Marshal(bodies)
	ids, _ := json.Marshal([]string{"m-1", "m-2"})
	env := fmt.Sprintf(`{"Data":{"msgs":%s},"Metadata":{"MessageIdArray":%s,"sys":{"MethodName":"traffic"}}}`, data, ids)
	code, ans := invokeHost(t, a.HostHandler(), "traffic", []byte(env))
	if code != http.StatusOK {
		t.Fatalf("%d %+v", code, ans)
	}
	blocks, err := a.store.ListBlocks(t.Context(), "throttle")
	if err != nil || len(blocks) != 1 || blocks[0].Target != "45.153.160.52" {
		t.Errorf("a flood over two messages of one batch: desired throttles %+v (%v)", blocks, err)
	}
}

// laRow is one ApiManagementGatewayLogs row.
func laRow(at time.Time, caller, xff, user, path string) string {
	headers := map[string]string{"User-Agent": "okhttp/4.12.0"}
	if xff != "" {
		headers["X-Forwarded-For"] = xff
	}
	h, _ := json.Marshal(headers)
	row := map[string]any{"TimeGenerated": at.Format(time.RFC3339), "CallerIpAddress": caller, "Method": "GET",
		"Url": "https://api.contoso.com" + path, "ResponseCode": 200, "ResponseSize": 900, "TotalTime": 40,
		"ApiId": "orders", "OperationId": "get-order", "UserId": user, "RequestHeaders": string(h)}
	b, _ := json.Marshal(row)
	return string(b) + "\n"
}

// An address shared by 500 well-behaved users and one abusive user: the abuser's user
// id is throttled; the shared address is neither blocked nor throttled.
func TestSharedAddressThrottlesTheIdentity(t *testing.T) {
	a, store := testApp(t, newClock(), map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000"})
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	const nat = "45.153.160.60"
	var b strings.Builder
	for i := range 500 {
		b.WriteString(laRow(start.Add(time.Duration(i)*400*time.Millisecond), nat, "", fmt.Sprintf("user-%03d", i), "/orders/1"))
	}
	for i := range 150 {
		b.WriteString(laRow(start.Add(time.Duration(i)*time.Second), nat, "", "user-666", "/orders/1"))
	}
	code, ans := postIngest(t, a, b.String(), "nat-1")
	if code != http.StatusOK || ans.Records != 650 {
		t.Fatalf("%d %+v", code, ans)
	}
	var userFinding bool
	for _, f := range ans.Findings {
		if f.KeyType == "ip" {
			t.Errorf("the shared address was flagged: %+v", f)
		}
		userFinding = userFinding || (f.KeyType == "user" && f.Key == "user-666")
	}
	if !userFinding {
		t.Fatalf("no finding for the abusive user: %+v", ans.Findings)
	}
	throttles, err := store.ListBlocks(t.Context(), "throttle")
	if err != nil {
		t.Fatal(err)
	}
	if len(throttles) != 1 || throttles[0].TargetKind != "user" || throttles[0].Target != "user-666" {
		t.Errorf("desired throttles %+v", throttles)
	}
	for _, action := range []string{"block_waf", "block_apim"} {
		if bs, _ := store.ListBlocks(t.Context(), action); len(bs) != 0 {
			t.Errorf("%s blocks: %+v", action, bs)
		}
	}
}

// X-Forwarded-For is believed only as far as the proxies are trusted: traffic never
// counts against an address a client wrote into the header.
func TestSpoofedForwardedForNeverAttributes(t *testing.T) {
	a, store := testApp(t, newClock(), map[string]string{
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000", "APIGUARD_TRUSTED_PROXIES": "10.20.0.0/24"})
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range 150 {
		at := start.Add(time.Duration(i) * time.Second)
		// Through the trusted Application Gateway: the client wrote 6.6.6.6 first.
		b.WriteString(laRow(at, "10.20.0.4", "6.6.6.6, 45.153.160.70:51234", "", "/orders/1"))
		// Straight to the gateway, claiming to be 6.6.6.7.
		b.WriteString(laRow(at, "45.153.160.71", "6.6.6.7", "", "/orders/2"))
	}
	code, ans := postIngest(t, a, b.String(), "spoof-1")
	if code != http.StatusOK || ans.Records != 300 {
		t.Fatalf("%d %+v", code, ans)
	}
	keys := map[string]bool{}
	for _, f := range ans.Findings {
		keys[f.Key] = true
	}
	if keys["6.6.6.6"] || keys["6.6.6.7"] || keys["10.20.0.4"] {
		t.Errorf("traffic attributed to a spoofed or proxy address: %+v", ans.Findings)
	}
	if !keys["45.153.160.70"] || !keys["45.153.160.71"] {
		t.Errorf("the real clients were not found: %+v", ans.Findings)
	}
	throttles, _ := store.ListBlocks(t.Context(), "throttle")
	for _, th := range throttles {
		if strings.HasPrefix(th.Target, "6.6.6.") {
			t.Errorf("a spoofed address is throttled: %+v", th)
		}
	}
}
