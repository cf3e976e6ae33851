package envelope

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// decoder calls one of Request's binding accessors; the table below names it per case.
type decoder func(r *Request, binding string) (any, error)

func decodeHTTP(r *Request, b string) (any, error)       { return r.HTTP(b) }
func decodeTimer(r *Request, b string) (any, error)      { return r.Timer(b) }
func decodeServiceBus(r *Request, b string) (any, error) { return r.ServiceBus(b) }
func decodeCloudEvent(r *Request, b string) (any, error) { return r.CloudEvent(b) }
func decodeEventHub(r *Request, b string) (any, error)   { return r.EventHub(b) }

// envelopeCase is one payload under testdata/ and what decoding its binding must give.
type envelopeCase struct {
	file    string
	binding string
	decode  decoder
	want    any    // exact value on success
	wantErr string // substring of the rejection, when decoding must fail
	sys     Sys
}

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// envelopeCases is the one table behind the decode test, the fuzz seeds and the docs.
func envelopeCases() []envelopeCase {
	return []envelopeCase{
		{
			file: "http-post-json.json", binding: "req", decode: decodeHTTP,
			want: &HTTPRequest{
				URL:    "https://apiguard.example.net/api/alerts/defender?code=k1&dry=1",
				Method: "POST",
				Query:  map[string]string{"code": "k1", "dry": "1"},
				Headers: http.Header{
					"Content-Type":    {"application/json; charset=utf-8"},
					"X-Forwarded-For": {"192.0.2.10:5000", "10.0.0.4"},
					"Accept":          {"*/*"},
				},
				Params:    map[string]string{"source": "defender"},
				Body:      []byte(`{"alert":"waf-spike","count":3}`),
				AuthLevel: "Function",
			},
			sys: Sys{MethodName: "alerts", UtcNow: utc(2026, 3, 4, 10, 11, 12, 123456700), RandGuid: "11111111-2222-3333-4444-555555555555"},
		},
		{
			file: "http-get-nobody.json", binding: "req", decode: decodeHTTP,
			want: &HTTPRequest{
				URL:       "https://apiguard.example.net/api/blocks/203.0.113.9",
				Method:    "GET",
				Query:     map[string]string{},
				Headers:   http.Header{"User-Agent": {"curl/8.5.0"}},
				Params:    map[string]string{"target": "203.0.113.9"},
				AuthLevel: "Admin",
			},
			sys: Sys{MethodName: "blocks", UtcNow: utc(2026, 3, 4, 10, 11, 12, 0), RandGuid: "22222222-2222-3333-4444-555555555555"},
		},
		{
			file: "http-octet-stream.json", binding: "req", decode: decodeHTTP,
			want: &HTTPRequest{
				URL:     "https://apiguard.example.net/api/upload",
				Method:  "PUT",
				Query:   map[string]string{},
				Headers: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {"5"}},
				Params:  map[string]string{},
				Body:    []byte{0x00, 0x01, 0x02, 0xff, 'a'},
			},
			sys: Sys{MethodName: "upload", UtcNow: utc(2026, 3, 4, 10, 11, 12, 0), RandGuid: "33333333-2222-3333-4444-555555555555"},
		},
		{
			file: "timer-status.json", binding: "timer", decode: decodeTimer,
			want: &Timer{
				IsPastDue:   true,
				Last:        utc(2026, 2, 1, 6, 0, 0, 0),
				Next:        utc(2026, 3, 1, 6, 0, 0, 0),
				LastUpdated: utc(2026, 2, 1, 6, 0, 0, 123400),
			},
			sys: Sys{MethodName: "triage", UtcNow: utc(2026, 3, 1, 6, 0, 3, 500000000), RandGuid: "44444444-2222-3333-4444-555555555555"},
		},
		{
			file: "timer-null-status.json", binding: "timer", decode: decodeTimer,
			want: &Timer{},
			sys:  Sys{MethodName: "expire", UtcNow: utc(2026, 3, 1, 6, 5, 0, 0), RandGuid: "55555555-2222-3333-4444-555555555555"},
		},
		{
			file: "servicebus-single-double.json", binding: "msg", decode: decodeServiceBus,
			want: []Message{{
				Body:           []byte(`{"api":"payments","status":401}`),
				MessageID:      "msg-0001",
				SessionID:      "tenant-3",
				ContentType:    "application/json",
				CorrelationID:  "corr-7",
				Subject:        "apilog",
				LockToken:      "lock-0001",
				DeliveryCount:  2,
				SequenceNumber: 9007199254740993, // above 2^53: must not pass through float64
				EnqueuedTime:   utc(2026, 3, 4, 10, 0, 1, 0),
				Properties:     map[string]any{"tenant": "tenant-3", "attempt": json.Number("2")},
			}},
			sys: Sys{MethodName: "logs", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "66666666-2222-3333-4444-555555555555"},
		},
		{
			file: "servicebus-single-single.json", binding: "msg", decode: decodeServiceBus,
			want: []Message{{
				Body:           []byte(`{"api":"payments","status":401}`),
				MessageID:      "12345", // peels to a number; still read as its text
				LockToken:      "lock-0002",
				DeliveryCount:  1,
				SequenceNumber: 7,
				EnqueuedTime:   utc(2026, 3, 4, 10, 0, 1, 123456700),
				Properties:     map[string]any{"tenant": "tenant-4"}, // from UserProperties
			}},
			sys: Sys{MethodName: "logs", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "77777777-2222-3333-4444-555555555555"},
		},
		{
			file: "servicebus-single-plain.json", binding: "msg", decode: decodeServiceBus,
			want: []Message{{
				Body:          []byte(`hello, "world"`),
				MessageID:     "plain-1",
				ContentType:   "text/plain",
				Subject:       "greeting",                   // from Label
				DeliveryCount: 1,                            //
				EnqueuedTime:  utc(2026, 3, 4, 10, 0, 0, 0), // EnqueuedTime +01:00, in UTC
			}},
			sys: Sys{MethodName: "logs", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "88888888-2222-3333-4444-555555555555"},
		},
		{
			file: "servicebus-batch.json", binding: "msgs", decode: decodeServiceBus,
			want: []Message{
				{
					Body: []byte(`{"api":"orders","status":429}`), MessageID: "b-1", SessionID: "s-1",
					ContentType: "application/json", Subject: "a", LockToken: "lt-a", DeliveryCount: 1,
					SequenceNumber: 10, EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 100000000),
					Properties: map[string]any{"tenant": "t1"},
				},
				{
					Body: []byte("plain text"), MessageID: "b-2", SessionID: "s-1",
					ContentType: "text/plain", Subject: "b", LockToken: "lt-b", DeliveryCount: 2,
					SequenceNumber: 11, EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 200000000),
					Properties: map[string]any{},
				},
				{
					Body: []byte(`{"api":"orders","status":403}`), MessageID: "b-3", SessionID: "s-2",
					ContentType: "application/json", CorrelationID: "c-3", Subject: "c", LockToken: "lt-c",
					DeliveryCount: 5, SequenceNumber: 12, EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 0),
					Properties: map[string]any{"tenant": "t2", "n": json.Number("3")},
				},
			},
			sys: Sys{MethodName: "logs", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "99999999-2222-3333-4444-555555555555"},
		},
		{
			file: "servicebus-batch-mismatch.json", binding: "msgs", decode: decodeServiceBus,
			wantErr: `binding "msgs": metadata DeliveryCountArray has 3 entries, the batch has 2 messages`,
			sys:     Sys{MethodName: "logs", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "aaaaaaaa-2222-3333-4444-555555555555"},
		},
		{
			// The host's shape for "cardinality": "many", "dataType": "string": bodies as
			// a JSON string holding an array of strings, per-event *Array keys as JSON
			// strings, the partition context as an object under both its names.
			file: "eventhub-batch.json", binding: "events", decode: decodeEventHub,
			want: &EventBatch{
				Partition: Partition{Namespace: "apiguard-eh.servicebus.windows.net", EventHub: "apiguard-traffic", ConsumerGroup: "apiguard", ID: "3"},
				Events: []Event{
					{
						Body:           []byte(`{"records":[{"time":"2026-03-04T09:59:58.1234567Z","category":"GatewayLogs","operationName":"Microsoft.ApiManagement/GatewayLogs","callerIpAddress":"203.0.113.17","durationMs":12,"properties":{"method":"GET","url":"https://contoso.azure-api.net/orders/1","responseCode":200,"apiId":"orders"}}]}`),
						SequenceNumber: 118, Offset: "4294967296", EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 123000000),
						Properties: map[string]any{},
					},
					{
						Body:           []byte("not json: a newer producer"),
						SequenceNumber: 119, Offset: "4294968320", EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 456000000),
						Properties: map[string]any{"producer": "forwarder", "attempt": json.Number("2")},
					},
					{
						Body:           []byte(`{"records":[{"time":"2026-03-04T09:59:59Z","category":"ApplicationGatewayAccessLog","properties":{"clientIP":"198.51.100.7","httpMethod":"POST","requestUri":"/login","httpStatus":401}}]}`),
						SequenceNumber: 121, Offset: "9:4294969344", PartitionKey: "edge-7", EnqueuedTime: utc(2026, 3, 4, 10, 0, 1, 0),
						Properties: map[string]any{"format": "appgw"},
					},
				},
			},
			sys: Sys{MethodName: "traffic-eventhub", UtcNow: utc(2026, 3, 4, 10, 0, 2, 500000000), RandGuid: "dddddddd-2222-3333-4444-555555555555"},
		},
		{
			// One event ("cardinality": "one"): plain keys; the body double-encoded as
			// Service Bus bodies are; the partition context only under its newer name,
			// and wrapped in a string; sequence number 0 is a real one.
			file: "eventhub-single.json", binding: "event", decode: decodeEventHub,
			want: &EventBatch{
				Partition: Partition{Namespace: "ns.servicebus.windows.net", EventHub: "logs", ConsumerGroup: "$Default", ID: "0"},
				Events: []Event{{
					Body: []byte(`{"records":[]}`), SequenceNumber: 0, Offset: "0", PartitionKey: "p-1",
					EnqueuedTime: utc(2026, 3, 4, 10, 0, 0, 0),
					Properties:   map[string]any{"tenant": "t1", "n": json.Number("9007199254740993")},
				}},
			},
			sys: Sys{MethodName: "hub-single", UtcNow: utc(2026, 3, 4, 10, 0, 1, 0), RandGuid: "eeeeeeee-2222-3333-4444-555555555555"},
		},
		{
			file: "eventhub-batch-mismatch.json", binding: "events", decode: decodeEventHub,
			wantErr: `binding "events": metadata SequenceNumberArray has 3 entries, the batch has 2 events`,
			sys:     Sys{MethodName: "traffic-eventhub", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "ffffffff-2222-3333-4444-555555555555"},
		},
		{
			file: "eventhub-batch-order.json", binding: "events", decode: decodeEventHub,
			wantErr: `binding "events": event 2 has sequence number 8, not after event 1's 8: a partition's events come in order`,
			sys:     Sys{MethodName: "traffic-eventhub", UtcNow: utc(2026, 3, 4, 10, 0, 2, 0), RandGuid: "12121212-2222-3333-4444-555555555555"},
		},
		{
			file: "cloudevent.json", binding: "event", decode: decodeCloudEvent,
			want: &CloudEvent{
				SpecVersion: "1.0", ID: "evt-0001", Source: "/apiguard/blocks", Type: "net.apiguard.block.expired",
				Subject: "blocks/203.0.113.9", DataContentType: "application/json",
				Time:       utc(2026, 3, 4, 10, 0, 0, 123456700),
				Data:       json.RawMessage(`{"target": "203.0.113.9", "action": "expire"}`),
				Extensions: map[string]json.RawMessage{"tenant": json.RawMessage(`"t1"`)},
			},
			sys: Sys{MethodName: "events", UtcNow: utc(2026, 3, 4, 10, 0, 1, 0), RandGuid: "bbbbbbbb-2222-3333-4444-555555555555"},
		},
		{
			file: "eventgrid.json", binding: "event", decode: decodeCloudEvent,
			want: &CloudEvent{
				ID:      "eg-0001",
				Source:  "/subscriptions/000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
				Type:    "Microsoft.Storage.BlobCreated",
				Subject: "/blobServices/default/containers/c/blobs/b.json",
				Time:    utc(2026, 3, 4, 10, 0, 0, 500000000),
				Data:    json.RawMessage(`{"api": "PutBlob", "contentLength": 524}`),
				Extensions: map[string]json.RawMessage{
					"dataVersion": json.RawMessage(`""`), "metadataVersion": json.RawMessage(`"1"`),
				},
			},
			sys: Sys{MethodName: "events", UtcNow: utc(2026, 3, 4, 10, 0, 1, 0), RandGuid: "cccccccc-2222-3333-4444-555555555555"},
		},
	}
}

func readTestdata(t testing.TB, name string) *Request {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
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

func TestDecodeTestdata(t *testing.T) {
	for _, tc := range envelopeCases() {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) {
			req := readTestdata(t, tc.file)
			got, err := tc.decode(req, tc.binding)
			if tc.wantErr != "" {
				assertRejected(t, err, http.StatusBadRequest, tc.wantErr)
			} else if err != nil {
				t.Fatalf("decode %q: %v", tc.binding, err)
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decode %q:\n got %s\nwant %s", tc.binding, dump(got), dump(tc.want))
			}
			if s := req.Sys(); s != tc.sys {
				t.Errorf("Sys() = %+v, want %+v", s, tc.sys)
			}
		})
	}
}

// dump shows a decoded value with []byte as text, which is what a reader wants to compare.
func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	s := string(b)
	if ms, ok := v.([]Message); ok {
		for i, m := range ms {
			s += "\nbody[" + string(rune('0'+i)) + "]=" + string(m.Body)
		}
	}
	return s
}

func assertRejected(t *testing.T, err error, status int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %d rejection containing %q", status, want)
	}
	if fault.Of(err) != fault.Reject || fault.StatusOf(err) != status {
		t.Errorf("error %q has disposition %v status %d, want reject %d", err, fault.Of(err), fault.StatusOf(err), status)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestReadRequestLimits(t *testing.T) {
	body := `{"Data":{"req":{"Method":"POST"}},"Metadata":{}}`
	n := int64(len(body))

	if _, err := ReadRequest(strings.NewReader(body), n); err != nil {
		t.Errorf("body exactly at the limit: %v", err)
	}
	_, err := ReadRequest(strings.NewReader(body), n-1)
	assertRejected(t, err, http.StatusRequestEntityTooLarge, "over "+itoa(n-1)+" bytes")

	// A caller that already capped the body with http.MaxBytesReader gets the same 413.
	capped := http.MaxBytesReader(nil, readCloser{strings.NewReader(body)}, 10)
	_, err = ReadRequest(capped, 1<<20)
	assertRejected(t, err, http.StatusRequestEntityTooLarge, "over 10 bytes")

	// A failing reader is not the input's fault: retry.
	_, err = ReadRequest(failingReader{}, 1<<20)
	if err == nil || fault.Of(err) != fault.Retry {
		t.Errorf("read failure: got %v (disposition %v), want a transient fault", err, fault.Of(err))
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestReadRequestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "  ", "empty request body"},
		{"null", "null", "request body is null"},
		{"truncated", "{\"Data\": {\"req\": {\n", "malformed JSON at line 2, column 1 (offset 19): unexpected end of JSON input"},
		{"bad token", "{\n  \"Data\": {x}\n}", "malformed JSON at line 2, column 12 (offset 13): invalid character 'x'"},
		{"trailing", `{"Data":{}} {}`, "malformed JSON at line 1, column 13 (offset 12): invalid character '{' after top-level value"},
		{"top-level array", `[1,2]`, "envelope must be a JSON object, got array at line 1, column 1 (offset 0)"},
		{"data not an object", `{"Data": [1]}`, "envelope field Data must be a JSON object, got array at line 1, column 10 (offset 9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadRequest(strings.NewReader(tc.body), 1<<20)
			assertRejected(t, err, http.StatusBadRequest, tc.want)
		})
	}
}

// TestDecodeErrors checks that each accessor names the binding or key at fault.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, binding string
		decode              decoder
		want                string
	}{
		{"absent binding", `{"Data":{}}`, "req", decodeHTTP, `binding "req" absent from Data`},
		{"http not an object", `{"Data":{"req":[1]}}`, "req", decodeHTTP, `binding "req": HTTP request: want an object, got an array`},
		{"http null", `{"Data":{"req":null}}`, "req", decodeHTTP, `binding "req": HTTP request is null`},
		{"http query type", `{"Data":{"req":{"Query":{"a":1}}}}`, "req", decodeHTTP, `binding "req": HTTP request: field Query: want string, got number`},
		{"http header type", `{"Data":{"req":{"Headers":{"X-A":{"b":1}}}}}`, "req", decodeHTTP, `binding "req": header "X-A": want a string, got an object`},
		{"http bad base64", `{"Data":{"req":{"Headers":{"Content-Type":["multipart/form-data; boundary=x"]},"Body":"%%%"}}}`, "req", decodeHTTP, `binding "req": Body: content type "multipart/form-data; boundary=x" needs a base64 body`},
		{"timer bad time", `{"Data":{"t":{"ScheduleStatus":{"Last":"yesterday"}}}}`, "t", decodeTimer, `binding "t": ScheduleStatus.Last: want an RFC 3339 or .NET DateTime timestamp, got "yesterday"`},
		{"timer past due", `{"Data":{"t":{"IsPastDue":"maybe"}}}`, "t", decodeTimer, `binding "t": IsPastDue: want a boolean, got a string`},
		{"sb delivery count", `{"Data":{"m":"x"},"Metadata":{"DeliveryCount":"\"one\""}}`, "m", decodeServiceBus, `binding "m": metadata DeliveryCount: want an integer, got a string`},
		{"sb batch not array", `{"Data":{"m":"{}"},"Metadata":{"MessageIdArray":"[\"a\"]"}}`, "m", decodeServiceBus, `binding "m": batch (metadata has *Array keys): want an array, got an object`},
		{"sb batch entry", `{"Data":{"m":"[\"a\"]"},"Metadata":{"EnqueuedTimeUtcArray":"[5]"}}`, "m", decodeServiceBus, `binding "m": metadata EnqueuedTimeUtcArray[0]: want a timestamp string, got a number`},
		{"sb batch key", `{"Data":{"m":"[\"a\"]"},"Metadata":{"SessionIdArray":"{}"}}`, "m", decodeServiceBus, `binding "m": metadata SessionIdArray: want an array, got an object`},
		{"eh sequence type", `{"Data":{"e":"[\"a\"]"},"Metadata":{"SequenceNumberArray":"[\"x\"]"}}`, "e", decodeEventHub, `binding "e": metadata SequenceNumberArray[0]: want an integer, got a string`},
		{"eh sequence negative", `{"Data":{"e":"x"},"Metadata":{"SequenceNumber":"-3"}}`, "e", decodeEventHub, `binding "e": metadata SequenceNumber: want a sequence number >= 0, got -3`},
		{"eh batch not array", `{"Data":{"e":"{}"},"Metadata":{"OffsetArray":"[]"}}`, "e", decodeEventHub, `binding "e": event batch (metadata has *Array keys): want an array, got an object`},
		{"eh properties", `{"Data":{"e":"[\"a\"]"},"Metadata":{"PropertiesArray":"[[1]]"}}`, "e", decodeEventHub, `binding "e": metadata PropertiesArray[0]: want an object, got an array`},
		{"eh partition context", `{"Data":{"e":"x"},"Metadata":{"PartitionContext":[1]}}`, "e", decodeEventHub, `binding "e": metadata PartitionContext: want an object, got an array`},
		{"eh partition id", `{"Data":{"e":"x"},"Metadata":{"PartitionContext":{"PartitionId":{"n":1}}}}`, "e", decodeEventHub, `binding "e": metadata PartitionContext.PartitionId: want a string, got an object`},
		{"eh time", `{"Data":{"e":"x"},"Metadata":{"EnqueuedTimeUtc":"soon"}}`, "e", decodeEventHub, `binding "e": metadata EnqueuedTimeUtc: want an RFC 3339 or .NET DateTime timestamp, got "soon"`},
		{"eh absent binding", `{"Data":{}}`, "events", decodeEventHub, `binding "events" absent from Data`},
		{"event schema", `{"Data":{"e":{"id":"1"}}}`, "e", decodeCloudEvent, `binding "e": neither a CloudEvent (specversion) nor an Event Grid event (eventType)`},
		{"event required", `{"Data":{"e":{"specversion":"1.0","id":"1","type":"t"}}}`, "e", decodeCloudEvent, `binding "e": event attribute source is required`},
		{"event attribute type", `{"Data":{"e":{"specversion":"1.0","id":1,"type":"t","source":"s"}}}`, "e", decodeCloudEvent, `binding "e": event attribute id: want a string, got a number`},
		{"event specversion 0.3", `{"Data":{"e":{"specversion":"0.3","id":"1","type":"t","source":"s"}}}`, "e", decodeCloudEvent, `binding "e": specversion "0.3": only CloudEvents 1.0 is read`},
		{"event specversion 1", `{"Data":{"e":{"specversion":"1","id":"1","type":"t","source":"s"}}}`, "e", decodeCloudEvent, `binding "e": specversion "1": only CloudEvents 1.0 is read`},
		{"event time", `{"Data":{"e":{"eventType":"t","id":"1","eventTime":"noon"}}}`, "e", decodeCloudEvent, `binding "e": event attribute eventTime: want an RFC 3339`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ReadRequest(strings.NewReader(tc.body), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tc.decode(req, tc.binding)
			assertRejected(t, err, http.StatusBadRequest, tc.want)
		})
	}
}

func TestPeelStringLayers(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"\"abc\""`, `"abc"`},             // host-wrapped string
		{`"abc"`, `"abc"`},                 // plain string: not JSON inside, kept
		{`"1"`, `1`},                       // host-wrapped number
		{`"[1,2]"`, `[1,2]`},               // host-wrapped array
		{`[1,2]`, `[1,2]`},                 // not wrapped at all
		{`"\"{\\\"a\\\":1}\""`, `{"a":1}`}, // double-encoded body: two layers
		{`"\"\\\"x\\\"\""`, `"x"`},         // three layers: only two peeled
		{`" [1] "`, `[1]`},                 // whitespace inside a layer
		{`"  "`, `"  "`},                   // blank string: kept
		{`"2026-01-01T05:59:58"`, `"2026-01-01T05:59:58"`},
		{`null`, `null`},
		{``, ``},
	} {
		if got := string(peelStringLayers(json.RawMessage(tc.in))); got != tc.want {
			t.Errorf("peelStringLayers(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-01-01T05:59:58", utc(2026, 1, 1, 5, 59, 58, 0)},
		{"2026-01-01T05:59:58.1234567Z", utc(2026, 1, 1, 5, 59, 58, 123456700)},
		{"2025-12-01T06:00:00.0000000+00:00", utc(2025, 12, 1, 6, 0, 0, 0)},
		{"2026-01-01T07:00:00+01:00", utc(2026, 1, 1, 6, 0, 0, 0)},
		{"2026-01-01T05:59:58.5", utc(2026, 1, 1, 5, 59, 58, 500000000)},
	} {
		got, err := parseTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v in UTC", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "01/01/2026 05:59:58", "2026-13-01T00:00:00Z"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q): want an error", bad)
		}
	}
}

func TestMessageBody(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{`null`, nil},
		{`"null"`, []byte("null")}, // the text "null", host-wrapped
		{`""`, []byte{}},
		{`"\"hi\""`, []byte("hi")},
		{`"hi"`, []byte("hi")},
		{`{"a": 1}`, []byte(`{"a": 1}`)},
		{`"42"`, []byte("42")},
	} {
		if got := messageBody(json.RawMessage(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("messageBody(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBase64Body(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/octet-stream":        true,
		"Application/Octet-Stream":        true,
		"multipart/form-data; boundary=x": true,
		"multipart/mixed;;bad":            true, // unparsable parameters: the media type still counts
		"application/json":                false,
		"text/plain; charset=utf-8":       false,
		"":                                false,
	} {
		if got := base64Body(ct); got != want {
			t.Errorf("base64Body(%q) = %v, want %v", ct, got, want)
		}
	}
}

// A decoded body must not alias the request: handlers may keep or change it.
func TestBodiesDoNotAliasRequest(t *testing.T) {
	req := readTestdata(t, "servicebus-single-single.json")
	msgs, err := req.ServiceBus("msg")
	if err != nil {
		t.Fatal(err)
	}
	before := string(req.Data["msg"])
	for i := range msgs[0].Body {
		msgs[0].Body[i] = 'x'
	}
	if string(req.Data["msg"]) != before {
		t.Error("changing a message body changed Request.Data")
	}
}
