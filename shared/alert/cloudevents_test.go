package alert

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

const goodAlert = `{"alertType":"API_SprayInRequests","systemAlertId":"ok-1","entities":[{"type":"ip","address":"203.0.113.7"}]}`

// badEvents are structured CloudEvents that must be refused, with the reason's text.
// Each is refused alone (400), and set aside in a batch whose other events are decided.
var badEvents = []struct {
	name, event, reason string
}{
	{"specversion 0.3", `{"specversion":"0.3","id":"e","source":"/s","type":"t","data":%s}`, `specversion "0.3" is not supported, want "1.0"`},
	{"specversion 99.0", `{"specversion":"99.0","id":"e","source":"/s","type":"t","data":%s}`, `specversion "99.0" is not supported`},
	{"specversion 1", `{"specversion":"1","id":"e","source":"/s","type":"t","data":%s}`, `specversion "1" is not supported`},
	{"specversion number", `{"specversion":1,"id":"e","source":"/s","type":"t","data":%s}`, `specversion is a JSON number (1), want the string "1.0"`},
	{"specversion empty", `{"specversion":"","id":"e","source":"/s","type":"t","data":%s}`, `specversion is empty`},
	{"specversion null", `{"specversion":null,"id":"e","source":"/s","type":"t","data":%s}`, `specversion is null`},
	{"specversion padded", `{"specversion":" 1.0","id":"e","source":"/s","type":"t","data":%s}`, `specversion " 1.0" is not supported`},
	{"specversion upper-case key", `{"SpecVersion":"1.0","id":"e","source":"/s","type":"t","data":%s}`, `attribute "SpecVersion": CloudEvents attribute names are lower case`},
	{"no id", `{"specversion":"1.0","source":"/s","type":"t","data":%s}`, `id: MUST be a non-empty string`},
	{"no source", `{"specversion":"1.0","id":"e","type":"t","data":%s}`, `source: REQUIRED`},
	{"no type", `{"specversion":"1.0","id":"e","source":"/s","data":%s}`, `type: MUST be a non-empty string`},
	{"bad time", `{"specversion":"1.0","id":"e","source":"/s","type":"t","time":"yesterday","data":%s}`, `not a valid CloudEvent`},
	{"unpadded base64", `{"specversion":"1.0","id":"e","source":"/s","type":"t","data_base64":"e30"%.0s}`, `illegal base64`},
	{"data null", `{"specversion":"1.0","id":"e","source":"/s","type":"t","data":null%.0s}`, `carries no data`},
	{"validation code of 1 MB", `{"specversion":"1.0","id":"e","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"` + strings.Repeat("a", 1<<20) + `"}%.0s}`, `validationCode of 1048576 bytes`},
	{"validation code with markup", `{"specversion":"1.0","id":"e","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"<b>x</b>"}%.0s}`, `validationCode holds '<' at byte 0`},
}

func TestBadCloudEvents(t *testing.T) {
	for _, tt := range badEvents {
		t.Run(tt.name, func(t *testing.T) {
			ev := fmt.Sprintf(tt.event, goodAlert)
			b, err := Decode([]byte(ev), nil)
			if err == nil || fault.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("alone: %+v, %v; want a 400 containing %q", b, err, tt.reason)
			}
			if len(err.Error()) > 600 {
				t.Errorf("alone: message of %d bytes echoes the input", len(err.Error()))
			}
			good := `{"specversion":"1.0","id":"g","source":"/s","type":"Microsoft.Security.Alert","data":` + goodAlert + `}`
			b, err = Decode([]byte("["+good+","+ev+"]"), http.Header{"Content-Type": {"application/cloudevents-batch+json"}})
			if err != nil {
				t.Fatalf("batch: %v", err)
			}
			if len(b.Incidents) != 1 || b.Incidents[0].SystemAlertID != "ok-1" || b.ValidationCode != "" {
				t.Errorf("batch: the good event is not decided alone: %+v", b)
			}
			if len(b.Rejected) != 1 || b.Rejected[0].Index != 1 || !strings.Contains(b.Rejected[0].Reason, tt.reason) {
				t.Errorf("batch: rejected %+v, want index 1 with %q", b.Rejected, tt.reason)
			}
		})
	}
}

// Binary mode: the ce-* headers are held to the same rules.
func TestBadBinaryCloudEvents(t *testing.T) {
	base := map[string]string{"ce-specversion": "1.0", "ce-id": "e", "ce-source": "/s", "ce-type": "t", "Content-Type": "application/json"}
	tests := []struct {
		name   string
		set    map[string]string
		reason string
	}{
		{"0.3", map[string]string{"ce-specversion": "0.3"}, `specversion "0.3" is not supported`},
		{"99.0", map[string]string{"ce-specversion": "99.0"}, `specversion "99.0" is not supported`},
		{"1", map[string]string{"ce-specversion": "1"}, `specversion "1" is not supported`},
		{"empty", map[string]string{"ce-specversion": ""}, `specversion is empty`},
		{"no id", map[string]string{"ce-id": "-"}, `id: MUST be a non-empty string`},
		{"no source", map[string]string{"ce-source": "-"}, `source: REQUIRED`},
		{"structured content type", map[string]string{"Content-Type": "application/cloudevents+json"}, `Content-Type of a structured event`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range base {
				h.Set(k, v)
			}
			for k, v := range tt.set {
				if v == "-" {
					h.Del(k)
					continue
				}
				h[http.CanonicalHeaderKey(k)] = []string{v}
			}
			b, err := Decode([]byte(goodAlert), h)
			if err == nil || fault.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("%+v, %v; want a 400 containing %q", b, err, tt.reason)
			}
		})
	}
	h := http.Header{}
	for k, v := range base {
		h.Set(k, v)
	}
	h.Add("ce-specversion", "0.3")
	if _, err := Decode([]byte(goodAlert), h); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("two ce-specversion headers: %v", err)
	}
	h.Del("ce-specversion")
	h.Set("ce-specversion", "1.0")
	if inc := decodeOne(t, []byte(goodAlert), h); inc.SystemAlertID != "ok-1" {
		t.Errorf("good binary event: %+v", inc)
	}
}

// A GUID validation code, in either schema, is answered; a long one in the Event Grid
// schema is refused like the CloudEvent one.
func TestValidationCodeBound(t *testing.T) {
	const guid = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
	b, err := Decode([]byte(`[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"`+guid+`"},"dataVersion":"1"}]`), nil)
	if err != nil || b.ValidationCode != guid {
		t.Errorf("GUID code: %+v, %v", b, err)
	}
	long := strings.Repeat("0", maxValidationCode+1)
	_, err = Decode([]byte(`{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"`+long+`"},"dataVersion":"1"}`), nil)
	if err == nil || strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), "validationCode of 65 bytes") {
		t.Errorf("long code: %v", err)
	}
}

func TestWebhookOrigin(t *testing.T) {
	tests := map[string]bool{
		"eventgrid.azure.net":           true,
		"EventGrid.Azure.Net":           true,
		"localhost":                     true,
		"":                              false,
		"eventgrid.azure.net\r\nX:":     false,
		"a b":                           false,
		"<script>":                      false,
		"https://eventgrid.azure.net":   false,
		strings.Repeat("a", 254):        false,
		strings.Repeat("a.", 126) + "a": true,
	}
	for in, ok := range tests {
		if err := CheckWebhookOrigin(in); (err == nil) != ok {
			t.Errorf("CheckWebhookOrigin(%.40q) = %v, want ok %v", in, err, ok)
		}
	}
}
