package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// The alert input rules hold through the host envelope: a BOM is read, a repeated key
// and a bad specversion are 400s naming them, a 1 MB validation code is not echoed, and
// an OPTIONS origin that is no DNS name is refused.
func TestAlertInputThroughTheHost(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	body := readFile(t, "../docs/examples/alert-arm.json")
	if status, v := postAlert(t, a, append([]byte("\xef\xbb\xbf"), body...), nil); status != http.StatusAccepted || len(v.Incidents) != 1 {
		t.Errorf("BOM: %d %+v", status, v)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"repeated key", `{"alertType":"A","systemAlertId":"x","systemAlertId":"y"}`, `duplicate key "systemAlertId"`},
		{"specversion 0.3", `{"specversion":"0.3","id":"e","source":"/s","type":"t","data":{"alertType":"A"}}`, `specversion "0.3" is not supported`},
		{"validation code of 1 MB", `{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","dataVersion":"1","data":{"validationCode":"` + strings.Repeat("a", 1<<20) + `"}}`, "validationCode of 1048576 bytes"},
	} {
		a.Config.MaxBodyBytes = 2 << 20
		status, v := postAlert(t, a, []byte(tt.body), nil)
		if status != http.StatusBadRequest || !strings.Contains(v.Error, tt.want) || len(v.Error) > 1000 {
			t.Errorf("%s: %d %.200q", tt.name, status, v.Error)
		}
	}
	code, ans := invokeHost(t, a.HostHandler(), "alerts", hostEnvelope(t, "OPTIONS", map[string]string{"WebHook-Request-Origin": "https://evil.example/<x>"}, nil))
	if code != http.StatusOK || ans.Outputs.Res.StatusCode != http.StatusBadRequest || ans.Outputs.Res.Headers["WebHook-Allowed-Origin"] != "" {
		t.Errorf("OPTIONS with a bad origin: %d %+v", code, ans.Outputs.Res)
	}
}
