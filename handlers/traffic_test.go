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

func postIngest(t *testing.T, a *App, body, key string) (int, ingestAnswer) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	req := &envelope.HTTPRequest{Method: http.MethodPost, Headers: h, Query: map[string]string{}, Body: []byte(body)}
	out := ingestHTTP(a, t.Context(), a.Log, req)
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
