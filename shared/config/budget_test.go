package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The budgets default as documented, and each invalid combination is named.
func TestBudgets(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CallTimeout != 10*time.Second || c.Budget(Interactive) != 25*time.Second ||
		c.Budget(Background) != 4*time.Minute || c.Budget(Long) != FunctionTimeout {
		t.Errorf("defaults: call %v, budgets %v %v %v", c.CallTimeout, c.Budget(Interactive), c.Budget(Background), c.Budget(Long))
	}
	for _, tc := range []struct {
		settings map[string]string
		want     string // a setting named in the error; "" for valid
	}{
		{map[string]string{"APIGUARD_CALL_TIMEOUT": "200ms", "APIGUARD_INVOCATION_BUDGET": "500ms", "APIGUARD_BACKGROUND_BUDGET": "500ms"}, ""},
		{map[string]string{"APIGUARD_CALL_TIMEOUT": "soon"}, "APIGUARD_CALL_TIMEOUT"},
		{map[string]string{"APIGUARD_CALL_TIMEOUT": "10ms"}, "APIGUARD_CALL_TIMEOUT"},
		{map[string]string{"APIGUARD_INVOCATION_BUDGET": "0s"}, "APIGUARD_INVOCATION_BUDGET"},
		{map[string]string{"APIGUARD_BACKGROUND_BUDGET": "2h"}, "APIGUARD_BACKGROUND_BUDGET"},
		{map[string]string{"APIGUARD_INVOCATION_BUDGET": "5s"}, "APIGUARD_CALL_TIMEOUT"},
		{map[string]string{"APIGUARD_BACKGROUND_BUDGET": "1s", "APIGUARD_CALL_TIMEOUT": "2s"}, "APIGUARD_CALL_TIMEOUT"},
	} {
		_, err := Load(env(tc.settings))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.settings, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want it to name %s", tc.settings, err, tc.want)
		}
	}
}

// FunctionTimeout is host.json's functionTimeout: the budgets are validated against it.
func TestFunctionTimeoutIsHostJSON(t *testing.T) {
	raw, err := os.ReadFile("../../host.json")
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		FunctionTimeout string `json:"functionTimeout"`
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		t.Fatal(err)
	}
	var h, m, s int
	if _, err := fmt.Sscanf(host.FunctionTimeout, "%d:%d:%d", &h, &m, &s); err != nil {
		t.Fatalf("functionTimeout %q: %v", host.FunctionTimeout, err)
	}
	if got := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second; got != FunctionTimeout {
		t.Errorf("host.json functionTimeout %v, config.FunctionTimeout %v", got, FunctionTimeout)
	}
}
