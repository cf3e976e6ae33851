package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
		}
	})
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
