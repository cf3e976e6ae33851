package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

// FuzzReadRequest feeds arbitrary envelopes through every accessor on every Data key:
// nothing may panic, and every error must be a rejection (bad input is never "retry").
func FuzzReadRequest(f *testing.F) {
	for _, tc := range envelopeCases() {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Data":{"m":"\"[1,2]\""},"Metadata":{"MessageIdArray":"\"[\\\"a\\\"]\""}}`))
	f.Add([]byte(`{"Data":{"req":"{\"Headers\":{\"Content-Type\":\"multipart/x\"},\"Body\":\"QQ==\"}"}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadRequest(bytes.NewReader(data), 1<<16)
		if err != nil {
			assertReject(t, "ReadRequest", err)
			return
		}
		_ = req.Sys()
		for key := range req.Data {
			_, err := req.HTTP(key)
			assertReject(t, "HTTP("+key+")", err)
			_, err = req.Timer(key)
			assertReject(t, "Timer("+key+")", err)
			msgs, err := req.ServiceBus(key)
			assertReject(t, "ServiceBus("+key+")", err)
			if err == nil && len(msgs) == 0 && !hasArrays(req, messageProperties()) {
				t.Errorf("ServiceBus(%s): a single message decoded to none", key)
			}
			_, err = req.CloudEvent(key)
			assertReject(t, "CloudEvent("+key+")", err)
			b, err := req.EventHub(key)
			assertReject(t, "EventHub("+key+")", err)
			checkEventBatch(t, req, b, err)
		}
	})
}

// FuzzEventHub mutates Event Hubs envelopes (the host's batch and single shapes, and
// hostile variants) and decodes the binding: nothing may panic, every error is a
// rejection, and what decodes keeps the promises batch ids rest on.
func FuzzEventHub(f *testing.F) {
	for _, tc := range envelopeCases() {
		if !strings.HasPrefix(tc.file, "eventhub-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(eventHubEnvelope(3, 2))
	f.Add([]byte(`{"Data":{"events":"[\"a\",\"b\"]"},"Metadata":{"SequenceNumberArray":"[9223372036854775807,0]"}}`))
	f.Add([]byte(`{"Data":{"events":null},"Metadata":{"SequenceNumberArray":null,"PartitionContext":null}}`))
	f.Add([]byte(`{"Data":{"events":"\"\\\"[1]\\\"\""},"Metadata":{"PartitionContext":"\"{}\""}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadRequest(bytes.NewReader(data), 1<<16)
		if err != nil {
			assertReject(t, "ReadRequest", err)
			return
		}
		for _, key := range []string{"events", "event"} {
			if _, ok := req.Data[key]; !ok {
				continue
			}
			b, err := req.EventHub(key)
			assertReject(t, "EventHub("+key+")", err)
			checkEventBatch(t, req, b, err)
			// Decoding reads the request only: twice gives the same answer.
			again, err2 := req.EventHub(key)
			if (err == nil) != (err2 == nil) || (err == nil && !reflect.DeepEqual(b, again)) {
				t.Errorf("EventHub(%s) is not deterministic: %v / %v", key, err, err2)
			}
		}
	})
}

// checkEventBatch asserts what a decoded batch promises: one event when the envelope is
// no batch, sequence numbers known (>= 0) or NoSequenceNumber and strictly rising.
func checkEventBatch(t *testing.T, req *Request, b *EventBatch, err error) {
	t.Helper()
	if err != nil {
		if b != nil {
			t.Errorf("EventHub: a batch and an error (%v)", err)
		}
		return
	}
	if !hasArrays(req, eventProperties()) && len(b.Events) != 1 {
		t.Errorf("EventHub: a single event decoded to %d", len(b.Events))
	}
	last := NoSequenceNumber
	for i, e := range b.Events {
		switch {
		case e.SequenceNumber < NoSequenceNumber:
			t.Errorf("event %d: sequence number %d", i, e.SequenceNumber)
		case e.SequenceNumber == NoSequenceNumber:
		case e.SequenceNumber <= last:
			t.Errorf("event %d: sequence number %d not after %d", i, e.SequenceNumber, last)
		default:
			last = e.SequenceNumber
		}
	}
}

func assertReject(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if d := fault.Of(err); d != fault.Reject {
		t.Errorf("%s: error %q has disposition %v, want reject", call, err, d)
	}
	if !strings.HasPrefix(err.Error(), "envelope: ") {
		t.Errorf("%s: error %q does not say where it comes from", call, err)
	}
}

// BenchmarkServiceBusBatch decodes a 100-message batch the way the host sends it, from
// the request bytes to []Message.
func BenchmarkServiceBusBatch(b *testing.B) {
	payload := batchEnvelope(100)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := ReadRequest(bytes.NewReader(payload), 1<<24)
		if err != nil {
			b.Fatal(err)
		}
		msgs, err := req.ServiceBus("msgs")
		if err != nil || len(msgs) != 100 {
			b.Fatalf("got %d messages, %v", len(msgs), err)
		}
	}
}

// BenchmarkEventHubBatch decodes a 16-event batch (host.json's maxEventBatchSize) of
// Azure Monitor documents the way the host sends it, from the request bytes to the
// EventBatch.
func BenchmarkEventHubBatch(b *testing.B) {
	payload := eventHubEnvelope(16, 50)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := ReadRequest(bytes.NewReader(payload), 1<<26)
		if err != nil {
			b.Fatal(err)
		}
		batch, err := req.EventHub("events")
		if err != nil || len(batch.Events) != 16 {
			b.Fatalf("got %v, %v", batch, err)
		}
	}
}

// eventHubEnvelope builds an n-event cardinality-many envelope in the host's encoding;
// each body is an Azure Monitor document of that many APIM GatewayLogs records (50
// make about 24 KB).
func eventHubEnvelope(n, records int) []byte {
	var bodies, seqs, offsets, times, props []string
	for i := range n {
		var recs []string
		for j := range records {
			recs = append(recs, fmt.Sprintf(`{"time":"2026-01-01T05:59:%02d.%07dZ","resourceId":"/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM",`+
				`"operationName":"Microsoft.ApiManagement/GatewayLogs","category":"GatewayLogs","durationMs":%d,"callerIpAddress":"198.51.100.%d",`+
				`"properties":{"method":"GET","url":"https://apim.azure-api.net/orders/v1/orders/%d?expand=items","responseCode":200,"responseSize":912,`+
				`"apiId":"orders","operationId":"get-order","userAgent":"Mozilla/5.0 (X11; Linux x86_64) \"quoted\""}}`, j, i*50+j, 10+j, j%250, i*50+j))
		}
		bodies = append(bodies, quote(`{"records":[`+strings.Join(recs, ",")+`]}`))
		seqs = append(seqs, fmt.Sprint(5000+i))
		offsets = append(offsets, quote(fmt.Sprint(1<<32+i*20480)))
		times = append(times, quote(fmt.Sprintf("2026-01-01T06:00:%02d.%03d", i%60, i)))
		props = append(props, `{}`)
	}
	arr := func(xs []string) string { return quote("[" + strings.Join(xs, ",") + "]") }
	return fmt.Appendf(nil, `{"Data":{"events":%s},"Metadata":{"PartitionContext":{"FullyQualifiedNamespace":"ns.servicebus.windows.net",`+
		`"EventHubName":"apiguard-traffic","ConsumerGroup":"apiguard","PartitionId":"1"},"SequenceNumberArray":%s,"OffsetArray":%s,`+
		`"EnqueuedTimeUtcArray":%s,"PropertiesArray":%s,"sys":{"MethodName":"traffic-eventhub","UtcNow":"2026-01-01T06:01:00Z","RandGuid":"0"}}}`,
		arr(bodies), arr(seqs), arr(offsets), arr(times), arr(props))
}

// batchEnvelope builds an n-message cardinality-many envelope in the host's encoding:
// a JSON string holding an array of body strings, and *Array metadata as JSON strings.
func batchEnvelope(n int) []byte {
	var bodies, ids, counts, seqs, times, props []string
	for i := range n {
		body := fmt.Sprintf(`{"ts":"2026-01-01T05:59:58Z","api":"orders","status":429,"clientIp":"198.51.100.%d","path":"/v1/orders/%d"}`, i%250, i)
		bodies = append(bodies, quote(body))
		ids = append(ids, quote(fmt.Sprintf("m-%d", i)))
		counts = append(counts, fmt.Sprint(1+i%3))
		seqs = append(seqs, fmt.Sprint(1000+i))
		times = append(times, quote(fmt.Sprintf("2026-01-01T05:59:%02d.%03dZ", i%60, i)))
		props = append(props, `{"tenant":"tenant-7"}`)
	}
	arr := func(xs []string) string { return quote("[" + strings.Join(xs, ",") + "]") }
	return fmt.Appendf(nil, `{"Data":{"msgs":%s},"Metadata":{"MessageIdArray":%s,"DeliveryCountArray":%s,`+
		`"SequenceNumberArray":%s,"EnqueuedTimeUtcArray":%s,"ApplicationPropertiesArray":%s,`+
		`"sys":{"MethodName":"TrafficLogs","UtcNow":"2026-01-01T05:59:59Z","RandGuid":"0"}}}`,
		arr(bodies), arr(ids), arr(counts), arr(seqs), arr(times), arr(props))
}

// quote JSON-encodes s (Go's %q escapes are not all valid JSON).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBatchEnvelope(t *testing.T) {
	req, err := ReadRequest(bytes.NewReader(batchEnvelope(3)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := req.ServiceBus("msgs")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[2].MessageID != "m-2" || msgs[2].DeliveryCount != 3 ||
		string(msgs[1].Body) != `{"ts":"2026-01-01T05:59:58Z","api":"orders","status":429,"clientIp":"198.51.100.1","path":"/v1/orders/1"}` {
		t.Errorf("batch = %+v", msgs)
	}
}
