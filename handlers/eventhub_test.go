package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
)

// eventHubSettings lower the flood limit so that the envelopes under
// testdata/eventhub stay small enough to read: 10 requests per 5-minute window are
// allowed, the 11th is a flood.
func eventHubSettings(limit string) map[string]string {
	return map[string]string{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000", "APIGUARD_DETECT_CONFIG": `{"flood":{"limit":` + limit + `}}`}
}

// invokeEventHub posts an envelope from testdata/eventhub to the traffic-eventhub
// function as the host does and returns the status and the summary it logged.
func invokeEventHub(t *testing.T, a *env, file string) (int, string) {
	t.Helper()
	code, ans := invokeHost(t, a.HostHandler(), "traffic-eventhub", readFile(t, "testdata/eventhub/"+file))
	return code, strings.Join(ans.Logs, "\n")
}

// floodIncident returns the normalized flood incident of the test hour, failing when
// there is not exactly one.
func floodIncident(t *testing.T, store *record.Store) string {
	t.Helper()
	from := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	recs, _, err := store.ListIncidents(t.Context(), record.IncidentQuery{From: from, To: from.Add(time.Hour), AlertType: "apiguard.flood"})
	if err != nil {
		t.Fatal(err)
	}
	var floods []string
	for _, r := range recs {
		if strings.Contains(string(r.Normalized), "Address ") {
			floods = append(floods, string(r.Normalized))
		}
	}
	if len(floods) != 1 {
		t.Fatalf("%d flood incidents of an address, want 1: %v", len(floods), floods)
	}
	return floods[0]
}

// An event is counted once however often the host delivers it: again in the same batch
// (a retry), or in a batch grouped differently (the replay from the last checkpoint
// after a crash). Event 118 holds 8 APIM requests of one client; event 119, 8 more
// through Application Gateway.
func TestTrafficEventHubCountsEventsOnce(t *testing.T) {
	a, store := testApp(t, newClock(), eventHubSettings("10"))
	for range 2 { // delivered, then delivered again: 16 requests if counted twice, a flood
		code, summary := invokeEventHub(t, a, "first.json")
		if code != http.StatusOK || !strings.Contains(summary, "partition 0, sequence 118-118: 1 batches, 8 records, 0 findings, 0 batches refused") {
			t.Fatalf("%d %q", code, summary)
		}
	}
	if th, _ := store.ListBlocks(t.Context(), "throttle"); len(th) != 0 {
		t.Fatalf("a redelivered event was counted again: throttles %+v", th)
	}
	// The replay holds 118 again and 119 with it: 16 requests, not 24.
	code, summary := invokeEventHub(t, a, "replay.json")
	if code != http.StatusOK || !strings.Contains(summary, "partition 0, sequence 118-119: 2 batches, 16 records, ") {
		t.Fatalf("%d %q", code, summary)
	}
	if inc := floodIncident(t, store); !strings.Contains(inc, "Address 45.153.160.80 sent 16 requests") {
		t.Errorf("flood evidence does not count each event once: %s", inc)
	}
	th, err := store.ListBlocks(t.Context(), "throttle")
	if err != nil || len(th) != 1 || th[0].Target != "45.153.160.80" {
		t.Errorf("desired throttles %+v (%v)", th, err)
	}
}

// Events that cannot be read (not JSON; JSON of a shape no decoder knows) are set
// aside, counted for health and logged with their batch id and reason, and the
// events around them are processed: the Front Door event before them and the APIM
// event after them add up to 7 requests, over a limit of 5.
func TestTrafficEventHubSetsBadEventsAside(t *testing.T) {
	c := newClock()
	a, store := testApp(t, c, eventHubSettings("5"))
	code, summary := invokeEventHub(t, a, "mixed.json")
	if code != http.StatusOK || !strings.Contains(summary, "partition 1, sequence 40-43: 4 batches, 7 records, 1 findings, 2 batches refused") {
		t.Fatalf("%d %q", code, summary)
	}
	n, err := store.SumCounts(t.Context(), "set_aside", c.now().Add(-time.Hour), c.now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Errorf("set-aside count %d (%v), want 2", n, err)
	}
	if inc := floodIncident(t, store); !strings.Contains(inc, "Address 45.153.160.90 sent 7 requests") {
		t.Errorf("the readable events were not all counted: %s", inc)
	}
}

// flakyDetect fails one Update of the detector state with a transient fault, as a
// Table Storage timeout would, and passes the others through.
type flakyDetect struct {
	detect.Store
	mu       sync.Mutex
	calls    int
	failCall int // 1-based
}

func (f *flakyDetect) Update(ctx context.Context, keys []detect.Key, fn func(detect.Key, *detect.State)) (map[detect.Key]*detect.State, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == f.failCall {
		return nil, fault.Transient(errors.New("table service: operation timed out"))
	}
	return f.Store.Update(ctx, keys, fn)
}

// A transient fault on one event fails the invocation (the function's retry policy
// runs the batch again); the other events of the batch are applied meanwhile, and the
// retry counts each event once: 12 requests in all, not 20.
func TestTrafficEventHubTransientFaultFailsInvocation(t *testing.T) {
	flaky := &flakyDetect{failCall: 2} // the second event's update
	a, store := build(t, newClock(), eventHubSettings("10"), func(d *flow.Deps) {
		flaky.Store = d.Detect
		d.Detect = flaky
	})
	code, _ := invokeEventHub(t, a, "transient.json")
	if code != http.StatusInternalServerError {
		t.Fatalf("a transient fault answered %d: the host would not run the batch again", code)
	}
	if th, _ := store.ListBlocks(t.Context(), "throttle"); len(th) != 0 {
		t.Fatalf("8 requests applied, yet throttles %+v", th)
	}
	code, summary := invokeEventHub(t, a, "transient.json")
	// Event 9, applied by the first attempt, reports the flood event 8 completed too:
	// the same finding twice, decided once.
	if code != http.StatusOK || !strings.Contains(summary, "partition 2, sequence 7-9: 3 batches, 12 records, 2 findings, 0 batches refused") {
		t.Fatalf("retry: %d %q", code, summary)
	}
	if inc := floodIncident(t, store); !strings.Contains(inc, "Address 45.153.160.81 sent 12 requests") {
		t.Errorf("the retry counted events of the failed attempt again: %s", inc)
	}
	if flaky.calls != 6 {
		t.Errorf("%d detector updates, want 3 per attempt", flaky.calls)
	}
}

// An envelope the decoder refuses reads no better when run again: the invocation
// succeeds with the reason in the host's log and nothing is processed.
func TestTrafficEventHubUnreadableBatch(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	env := `{"Data":{"events":"[\"{}\",\"{}\"]"},"Metadata":{"PartitionContext":{"PartitionId":"0"},"SequenceNumberArray":"[5,5]"}}`
	code, ans := invokeHost(t, a.HostHandler(), "traffic-eventhub", []byte(env))
	logs := strings.Join(ans.Logs, "\n")
	if code != http.StatusOK || !strings.Contains(logs, "batch set aside: envelope: binding \"events\": event 1 has sequence number 5, not after event 0's 5") {
		t.Errorf("%d %q", code, logs)
	}
}

// Events near the service's 1 MB limit are read whatever APIGUARD_MAX_BODY_BYTES says,
// though their envelope is over the limit of the other functions: an envelope that
// cannot be read loses its events.
func TestTrafficEventHubLargeBatch(t *testing.T) {
	a, _ := testApp(t, newClock(), map[string]string{"APIGUARD_MAX_BODY_BYTES": "1024"})
	var bodies []string
	var seqs []int
	start := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	filter := strings.Repeat("status%20eq%20%27open%27%20and%20", 100) // 3.4 KB: fewer, larger records
	for i := range 2 {
		var recs []string
		for j, size := 0, 0; size < 900<<10; j++ {
			at := start.Add(time.Duration(i*1000+j) * time.Millisecond)
			recs = append(recs, fmt.Sprintf(`{"time":%q,"category":"GatewayLogs","operationName":"Microsoft.ApiManagement/GatewayLogs",`+
				`"callerIpAddress":"198.51.100.7","durationMs":12,"properties":{"method":"GET","url":"https://contoso-apim.azure-api.net/orders/v1/orders/%d?filter=%s",`+
				`"responseCode":200,"responseSize":900,"apiId":"orders-api","operationId":"get-order"}}`, at.Format(time.RFC3339Nano), j, filter))
			size += len(recs[j]) + 1
		}
		bodies = append(bodies, `{"records":[`+strings.Join(recs, ",")+`]}`)
		seqs = append(seqs, 1000+i)
	}
	inner := func(v any) string { b, _ := json.Marshal(v); return string(b) } // the host's JsonConvert.SerializeObject
	env, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"events": inner(bodies)},
		"Metadata": map[string]any{"PartitionContext": map[string]string{"EventHubName": "apiguard-traffic", "PartitionId": "5"},
			"SequenceNumberArray": inner(seqs)},
	})
	if limit := 6*a.Config.MaxBodyBytes + 1<<20; int64(len(env)) <= limit {
		t.Fatalf("envelope of %d bytes is not over the other functions' limit %d: the test proves nothing", len(env), limit)
	}
	code, ans := invokeHost(t, a.HostHandler(), "traffic-eventhub", env)
	logs := strings.Join(ans.Logs, "\n")
	if code != http.StatusOK || !strings.Contains(logs, "partition 5, sequence 1000-1001: 2 batches, ") || !strings.Contains(logs, " 0 batches refused") {
		t.Errorf("%d %q", code, logs)
	}
}

// Batch ids are the event's position in its hub, never the consumer group or the
// delivery; the body's hash only when the host gave no position.
func TestEventBatchID(t *testing.T) {
	body := []byte(`{"records":[]}`)
	for _, tc := range []struct {
		name      string
		partition envelope.Partition
		seq       int64
		want      string
	}{
		{"position", envelope.Partition{EventHub: "apiguard-traffic", ConsumerGroup: "apiguard", ID: "3"}, 118, "eh:apiguard-traffic/3/118"},
		{"hub names ignore case", envelope.Partition{EventHub: "ApiGuard-Traffic", ConsumerGroup: "other", ID: "3"}, 118, "eh:apiguard-traffic/3/118"},
		{"first event of a partition", envelope.Partition{EventHub: "logs", ID: "0"}, 0, "eh:logs/0/0"},
		{"hub from the setting", envelope.Partition{ID: "1"}, 7, "eh:apiguard-traffic/1/7"},
		{"no sequence number", envelope.Partition{EventHub: "logs", ID: "1"}, envelope.NoSequenceNumber, "eh:logs/1/" + bodyID(body)},
		{"no partition", envelope.Partition{EventHub: "logs"}, 7, "eh:logs//" + bodyID(body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := &trafficOps{}
			a := New(ops, &config.Config{TrafficHub: "apiguard-traffic"}, zerolog.Nop(), nil)
			b := &envelope.EventBatch{Partition: tc.partition, Events: []envelope.Event{{Body: body, SequenceNumber: tc.seq}}}
			if _, err := trafficEventHub(a, t.Context(), a.Log, b); err != nil {
				t.Fatal(err)
			}
			if len(ops.ids) != 1 || ops.ids[0] != tc.want {
				t.Errorf("batch ids %v, want %s", ops.ids, tc.want)
			}
		})
	}
}

// trafficOps records the batch ids the traffic operation is given; nothing else of
// Operations may be called.
type trafficOps struct {
	Operations
	ids []string
}

func (o *trafficOps) Traffic(_ context.Context, _ zerolog.Logger, batches []queue.LogBatch) (string, error) {
	for _, b := range batches {
		o.ids = append(o.ids, b.ID)
	}
	return "done", nil
}

// The function.json promises what the handler relies on: a transient fault is run
// again until it succeeds, since the Event Hubs trigger does not redeliver a failed
// batch; and host.json's batches are those the envelope limit was sized for, with a
// checkpoint after each, so a replay after a crash is at most one batch.
func TestEventHubFunctionSettings(t *testing.T) {
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range defs {
		if d.Trigger != "eventHubTrigger" {
			continue
		}
		if d.Retry == nil || d.Retry.MaxRetryCount != -1 || d.Retry.Strategy != "exponentialBackoff" {
			t.Errorf("functions/%s: retry policy %+v: a failed batch would be dropped", name, d.Retry)
		}
	}
	var host struct {
		Extensions struct {
			EventHubs struct {
				MaxEventBatchSize        int `json:"maxEventBatchSize"`
				MinEventBatchSize        int `json:"minEventBatchSize"`
				BatchCheckpointFrequency int `json:"batchCheckpointFrequency"`
				PrefetchCount            int `json:"prefetchCount"`
			} `json:"eventHubs"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(readFile(t, "../host.json"), &host); err != nil {
		t.Fatal(err)
	}
	eh := host.Extensions.EventHubs
	if eh.MaxEventBatchSize != maxEventBatchSize {
		t.Errorf("host.json maxEventBatchSize %d, the envelope limit is sized for %d", eh.MaxEventBatchSize, maxEventBatchSize)
	}
	if eh.MinEventBatchSize < 1 || eh.MinEventBatchSize > eh.MaxEventBatchSize || eh.PrefetchCount < eh.MaxEventBatchSize {
		t.Errorf("host.json eventHubs %+v: min batch must be 1..max and prefetch at least a batch", eh)
	}
	if eh.BatchCheckpointFrequency != 1 {
		t.Errorf("host.json batchCheckpointFrequency %d: a replay after a crash would span several batches", eh.BatchCheckpointFrequency)
	}
}
