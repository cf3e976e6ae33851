package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/vocab"
)

func readCase(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cases", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeOne(t *testing.T, body []byte, h http.Header) Incident {
	t.Helper()
	b, err := Decode(body, h)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(b.Incidents) != 1 {
		t.Fatalf("got %d incidents, want 1: %+v", len(b.Incidents), b)
	}
	return b.Incidents[0]
}

func TestDecodeErrors(t *testing.T) {
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	tests := []struct {
		name string
		body string
		want []string // substrings of the message
	}{
		{"empty", "", []string{"empty body"}},
		{"blank", " \n\t ", []string{"empty body"}},
		{"malformed", "{\n  \"alertType\": \"x\",\n  oops\n}", []string{"malformed JSON", "line 3, column 3 (byte offset 24)", "invalid character 'o'"}},
		{"truncated", "{\"alertType\": \"x\"", []string{"malformed JSON", "line 1, column 1", "end of JSON input"}},
		{"trailing garbage", "{} {}", []string{"line 1, column 4 (byte offset 3)", "after top-level value"}},
		{"top-level string", `"an alert"`, []string{"top-level JSON is a string"}},
		{"top-level number", `42`, []string{"top-level JSON is a number"}},
		{"top-level null", `null`, []string{"top-level JSON is a null"}},
		{"too many alerts", many(MaxAlerts+1, "{}"), []string{"1001 alerts", "1000"}},
		{"too many in a list", `{"value":` + many(1500, "{}") + `}`, []string{"1500 alerts"}},
		{"too many in event data", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":` + many(1200, "{}") + `}`, []string{"1200 alerts"}},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{"nested deeper than 64", "byte offset 64"}},
		{"deep nesting in an object", `{"a":` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 71), []string{"nested deeper than 64"}},
		{"lone event without data", `{"specversion":"1.0","id":"e1","source":"/s","type":"t"}`, []string{`event "e1": carries no data`}},
		{"lone event with non-JSON data", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":"x"}`, []string{`event "e1": data does not hold a JSON alert: malformed JSON`}},
		{"lone event with bad base64", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data_base64":"%%%"}`, []string{`event "e1": not a valid CloudEvent: illegal base64 data`}},
		{"lone validation event without code", `{"specversion":"1.0","id":"e1","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}`, []string{"no validationCode"}},
		{"lone event with deep data", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":"` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `"}`, []string{"nested deeper than 64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Decode([]byte(tt.body), nil)
			if err == nil {
				t.Fatalf("Decode succeeded with %+v, want an error", b)
			}
			if got := fault.Of(err); got != fault.Reject {
				t.Errorf("fault.Of = %v, want %v", got, fault.Reject)
			}
			if got := fault.StatusOf(err); got != http.StatusBadRequest {
				t.Errorf("fault.StatusOf = %d, want 400", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDescribeUnmarshalTypeError(t *testing.T) {
	body := []byte(`{"n": "seven"}`)
	var v struct {
		N int `json:"n"`
	}
	err := describeJSONError(body, json.Unmarshal(body, &v))
	for _, w := range []string{"line 1", "field n", "string", "int"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not contain %q", err, w)
		}
	}
}

func TestExactlyMaxAlerts(t *testing.T) {
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"alertType":"A"},`, MaxAlerts), ",") + "]"
	b, err := Decode([]byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Incidents) != MaxAlerts {
		t.Fatalf("got %d incidents, want %d", len(b.Incidents), MaxAlerts)
	}
}

// The ID is the documented hash of the alert's own identity, whatever shape carried it.
func TestIncidentIDKeys(t *testing.T) {
	id := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return "inc-" + hex.EncodeToString(sum[:])[:32]
	}
	noFields := readCase(t, "no_alert_fields")
	list, err := Decode(readCase(t, "arm_list"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"systemAlertId, lower-cased", decodeOne(t, readCase(t, "arm"), nil).ID,
			id("sa:2516301234567890123_6b0f3c6a-3c55-4a8c-9f0e-2f1d5c7a9b01")},
		{"ARM id", list.Incidents[0].ID,
			id("arm:/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-api/providers/microsoft.security/locations/westeurope/alerts/2516300000000000080_aaaaaaaa-0000-4000-8000-000000000080")},
		{"ARM name", list.Incidents[1].ID, id("arm:2516300000000000081_aaaaaaaa-0000-4000-8000-000000000081")},
		{"Graph id", decodeOne(t, readCase(t, "graph_alert"), nil).ID, id("graph:da637578995287051192_756343937")},
		{"Graph notification", decodeOne(t, readCase(t, "graph_alert_created_cloudevent"), nil).ID, id("graph:da637578995287051192_756343937")},
		{"raw bytes", decodeOne(t, noFields, nil).ID, id("raw:" + string(bytes.TrimSpace(noFields)))},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: ID %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

// A redelivered alert maps to the same incident even when another channel carries it
// in another shape and case.
func TestSameAlertSameID(t *testing.T) {
	arm := `{"id":"/subscriptions/s/x","name":"n","properties":{"alertType":"API_X","systemAlertId":"ABC_def"}}`
	export := `{"AlertType":"API_X","SystemAlertId":"abc_DEF","Severity":"High"}`
	row := `{"AlertName":"x","AlertType":"API_X","SystemAlertId":"abc_def","Entities":"[]"}`
	ids := map[string]bool{}
	for _, body := range []string{arm, export, row} {
		ids[decodeOne(t, []byte(body), nil).ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("one alert in three shapes gave %d ids: %v", len(ids), ids)
	}
}

// Raw is the alert object as received, after the envelopes and encodings around it.
func TestRaw(t *testing.T) {
	alertJSON := `{"alertType":"API_X","systemAlertId":"r1","extendedProperties":{"client IP address":"45.153.160.140"}}`
	str, _ := json.Marshal(alertJSON)
	tests := []struct {
		name string
		body string
		h    http.Header
	}{
		{"bare", "  " + alertJSON + "\n", nil},
		{"array element", "[1, " + alertJSON + "]", nil},
		{"CloudEvent data", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":` + alertJSON + `}`, nil},
		{"CloudEvent data string", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":` + string(str) + `}`, nil},
		{"CloudEvent data_base64", `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data_base64":"` + base64.StdEncoding.EncodeToString([]byte(alertJSON)) + `"}`, nil},
		{"Event Grid data", `[{"id":"1","eventType":"t","subject":"s","eventTime":"2026-01-01T00:00:00Z","dataVersion":"1","data":` + alertJSON + `}]`, nil},
		{"binary CloudEvent", alertJSON, http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"e1"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := decodeOne(t, []byte(tt.body), tt.h)
			if string(inc.Raw) != alertJSON {
				t.Errorf("Raw = %s, want %s", inc.Raw, alertJSON)
			}
			if inc.SystemAlertID != "r1" || len(inc.Addresses) != 1 {
				t.Errorf("decoded %+v", inc)
			}
		})
	}
}

// Raw must not alias the caller's buffer, which the caller may reuse.
func TestRawIsACopy(t *testing.T) {
	body := []byte(`{"alertType":"API_X","systemAlertId":"r1"}`)
	inc := decodeOne(t, body, nil)
	want := string(body)
	for i := range body {
		body[i] = ' '
	}
	if string(inc.Raw) != want {
		t.Errorf("Raw changed with the body: %q", inc.Raw)
	}
}

func TestDeterministic(t *testing.T) {
	for _, c := range loadCases(t) {
		a, errA := Decode(c.body, c.header)
		b, errB := Decode(c.body, c.header)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two decodings differ", c.name)
		}
	}
}

func TestValidationWithAlerts(t *testing.T) {
	body := `[
	  {"id":"v","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","subject":"","eventTime":"2026-01-01T00:00:00Z","dataVersion":"1","data":{"validationCode":"code-1"}},
	  {"id":"a","eventType":"Microsoft.Security.Alert","subject":"","eventTime":"2026-01-01T00:00:00Z","dataVersion":"1","data":{"alertType":"API_X","systemAlertId":"x"}}
	]`
	b, err := Decode([]byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.ValidationCode != "code-1" || len(b.Incidents) != 1 {
		t.Errorf("got code %q and %d incidents", b.ValidationCode, len(b.Incidents))
	}
}

func TestBinaryValidation(t *testing.T) {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "e1")
	h.Set("ce-source", "/s")
	h.Set("ce-type", ValidationEventType)
	b, err := Decode([]byte(`{"validationCode":"abc"}`), h)
	if err != nil || b.ValidationCode != "abc" || len(b.Incidents) != 0 {
		t.Errorf("got %+v, %v", b, err)
	}
}

func TestBinaryGraphNotification(t *testing.T) {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-type", GraphAlertCreatedType)
	h.Set("ce-id", "1")
	h.Set("ce-source", "/tenants/t")
	inc := decodeOne(t, []byte(`{"resourceData":{"id":"g-1"}}`), h)
	if inc.Shape != ShapeGraph || inc.AlertType != GraphAlertCreatedType || len(inc.Addresses) != 0 {
		t.Errorf("got %+v", inc)
	}
}

func TestAddressCap(t *testing.T) {
	var ents []string
	for i := range 300 {
		ents = append(ents, fmt.Sprintf(`{"type":"ip","address":"198.51.%d.%d"}`, i/250, i%250))
	}
	inc := decodeOne(t, []byte(`{"alertType":"API_X","entities":[`+strings.Join(ents, ",")+`]}`), nil)
	if len(inc.Addresses) != MaxAddresses {
		t.Fatalf("got %d addresses, want %d", len(inc.Addresses), MaxAddresses)
	}
	if inc.Addresses[0].IP.String() != "198.51.0.0" || inc.Addresses[99].IP.String() != "198.51.0.99" {
		t.Errorf("cap did not keep the first addresses: %v ... %v", inc.Addresses[0], inc.Addresses[99])
	}
	if inc.AddressesOverBound != 200 {
		t.Errorf("counted %d addresses beyond the bound, want 200", inc.AddressesOverBound)
	}
}

// Addresses beyond the bound are counted wherever the alert names them: repeats once,
// in extended properties too.
func TestAddressesOverBoundCounted(t *testing.T) {
	var ips []string
	for i := range 10000 {
		ips = append(ips, fmt.Sprintf("45.%d.%d.%d", 10+i/65536, (i/256)%256, i%256))
	}
	ips = append(ips, ips[5000], ips[0]) // repeats count once
	body := `{"alertType":"API_X","extendedProperties":{"client IP address":"` + strings.Join(ips, ", ") + `"}}`
	inc := decodeOne(t, []byte(body), nil)
	if len(inc.Addresses) != MaxAddresses || inc.AddressesOverBound != 10000-MaxAddresses {
		t.Errorf("kept %d and counted %d beyond the bound, want %d and %d", len(inc.Addresses), inc.AddressesOverBound, MaxAddresses, 10000-MaxAddresses)
	}
}

// A long cyclic chain of references ends, costs one visit per entity, and lists the
// addresses in the order of the alert's own entities.
func TestLongReferenceChain(t *testing.T) {
	var ents []string
	var want []string
	for i := range 2000 {
		ip := ""
		if i%100 == 0 {
			addr := fmt.Sprintf("198.51.%d.%d", i/256, i%256)
			ip = fmt.Sprintf(`,"ip":{"type":"ip","address":%q}`, addr)
			want = append(want, addr)
		}
		ents = append(ents, fmt.Sprintf(`{"$id":"%d","next":{"$ref":"%d"}%s}`, i, (i+1)%2000, ip))
	}
	inc := decodeOne(t, []byte(`{"alertType":"API_X","entities":[`+strings.Join(ents, ",")+`]}`), nil)
	var got []string
	for _, a := range inc.Addresses {
		got = append(got, a.IP.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestScanAddresses(t *testing.T) {
	tests := []struct {
		in   string
		want string // space-separated
	}{
		{"45.153.160.140", "45.153.160.140"},
		{"client 45.153.160.140:5678 called", "45.153.160.140"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2001:DB8::1", "2001:db8::1"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"fe80::1%eth0 and fe80::2%25", "fe80::1 fe80::2"},
		{"IP:10.1.2.3, ip=10.1.2.4; (10.1.2.5) \"10.1.2.6\" <10.1.2.7>", "10.1.2.3 10.1.2.4 10.1.2.5 10.1.2.6 10.1.2.7"},
		{"from 10.1.2.3.", "10.1.2.3"},
		{"http://45.153.160.140/path and //10.1.2.3", "45.153.160.140 10.1.2.3"},
		{"::1", "::1"},
		{"1.2.3.4.5", ""},
		{"1.2.3.4.5.6.7.8", ""},
		{"v1.2.3.4", ""},
		{"1.2.3.4x", ""},
		{"version 1.2.3.4", ""},
		{"Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", ""},
		{"1.2.3", ""},
		{"256.1.1.1", ""},
		{"010.1.2.3", ""},
		{"1.2.3.4:99999", ""},
		{"12:30:45 2026-01-01T05:59:58.1234567", ""},
		{"aa:bb:cc:dd:ee:ff", ""},
		{"std::string ::", ""},
		{"deadbeef 3.14", ""},
	}
	for _, tt := range tests {
		var got []string
		scanAddresses(tt.in, func(a netip.Addr) bool { got = append(got, a.String()); return true })
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("scanAddresses(%q) = %q, want %q", tt.in, g, tt.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := map[string]time.Time{
		"2026-01-01T05:59:58Z":            utc("2026-01-01T05:59:58Z"),
		"2026-01-01T05:59:58.1234567Z":    utc("2026-01-01T05:59:58.1234567Z"),
		"2026-01-01T07:59:58+02:00":       utc("2026-01-01T05:59:58Z"),
		"2026-01-01T05:59:58":             utc("2026-01-01T05:59:58Z"),
		"2026-01-01T05:59:58.1234567":     utc("2026-01-01T05:59:58.1234567Z"),
		"2026-01-01 05:59:58":             utc("2026-01-01T05:59:58Z"),
		"2026-01-01 05:59:58.5":           utc("2026-01-01T05:59:58.5Z"),
		"01/02/2026 15:04:05":             utc("2026-01-02T15:04:05Z"),
		"1/2/2026 3:04:05 PM":             utc("2026-01-02T15:04:05Z"),
		" 2026-01-01T05:59:58.0000000Z\n": utc("2026-01-01T05:59:58Z"),
		"":                                {},
		"yesterday":                       {},
		"2026-13-01T00:00:00Z":            {},
	}
	for in, want := range tests {
		got := parseTime(in)
		if !got.Equal(want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("parseTime(%q) = %v, want %v in UTC", in, got, want)
		}
	}
}

func TestSeverity(t *testing.T) {
	tests := map[string]vocab.Severity{
		"High": vocab.SeverityHigh, "high": vocab.SeverityHigh, "MEDIUM": vocab.SeverityMedium, " low ": vocab.SeverityLow,
		"informational": vocab.SeverityInformational, "Critical": vocab.SeverityUnknown, "": vocab.SeverityUnknown,
		"unknownFutureValue": vocab.SeverityUnknown,
	}
	for in, want := range tests {
		inc := decodeOne(t, fmt.Appendf(nil, `{"alertType":"A","severity":%q}`, in), nil)
		if inc.Severity != want {
			t.Errorf("severity %q -> %q, want %q", in, inc.Severity, want)
		}
	}
}

// Keys match whatever their case, the first alias present winning.
func TestCaseInsensitiveKeys(t *testing.T) {
	inc := decodeOne(t, []byte(`{"ALERTTYPE":"API_X","SYSTEMALERTID":"s","ALERTSEVERITY":"low","STARTTIME":"2026-01-01T00:00:00Z",
		"ENTITIES":[{"TYPE":"IP","ADDRESS":"10.1.2.3"}]}`), nil)
	if inc.AlertType != "API_X" || inc.SystemAlertID != "s" || inc.Severity != vocab.SeverityLow || inc.StartTime.IsZero() || len(inc.Addresses) != 1 {
		t.Errorf("got %+v", inc)
	}
}

func TestShapes(t *testing.T) {
	tests := map[string]Shape{
		`{"properties":{"alertType":"A"}}`:                  ShapeARM,
		`{"properties":{"foo":"bar"}}`:                      ShapeUnknown,
		`{"alertType":"A","severity":"High"}`:               ShapeWorkflow,
		`{"AlertType":"A","Severity":"High"}`:               ShapeExport,
		`{"AlertType":"A","Entities":"[]"}`:                 ShapeTableRow,
		`{"AlertName":"A"}`:                                 ShapeTableRow,
		`{"id":"x","detectionSource":"y"}`:                  ShapeGraph,
		`{"id":"x","evidence":[]}`:                          ShapeGraph,
		`{"@odata.type":"#microsoft.graph.security.alert"}`: ShapeGraph,
		`{"title":"t","severity":"high"}`:                   ShapeUnknown,
	}
	for body, want := range tests {
		if got := decodeOne(t, []byte(body), nil).Shape; got != want {
			t.Errorf("%s: shape %q, want %q", body, got, want)
		}
	}
}

func TestErrorsAreNotWrappedTwice(t *testing.T) {
	_, err := Decode(nil, nil)
	var fe *fault.Error
	if !errors.As(err, &fe) || strings.Count(err.Error(), "alert:") != 1 {
		t.Errorf("got %v", err)
	}
}
