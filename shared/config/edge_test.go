package config

import (
	"strings"
	"testing"
	"time"
)

func TestEdgeSettings(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Edge{HeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, WriteTimeout: time.Minute,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10, MaxConcurrent: 64}
	if c.Edge != want {
		t.Errorf("defaults %+v, want %+v", c.Edge, want)
	}
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"APIGUARD_SERVE_HEADER_TIMEOUT", "300ms", true},
		{"APIGUARD_SERVE_HEADER_TIMEOUT", "99ms", false},
		{"APIGUARD_SERVE_HEADER_TIMEOUT", "0", false},
		{"APIGUARD_SERVE_BODY_TIMEOUT", "1h", true},
		{"APIGUARD_SERVE_BODY_TIMEOUT", "2h", false},
		{"APIGUARD_SERVE_BODY_TIMEOUT", "-1s", false},
		{"APIGUARD_SERVE_WRITE_TIMEOUT", "2m", true},
		{"APIGUARD_SERVE_WRITE_TIMEOUT", "soon", false},
		{"APIGUARD_SERVE_IDLE_TIMEOUT", "0.5d", false},
		{"APIGUARD_SERVE_MAX_HEADER_BYTES", "4096", true},
		{"APIGUARD_SERVE_MAX_HEADER_BYTES", "4095", false},
		{"APIGUARD_SERVE_MAX_HEADER_BYTES", "2097152", false},
		{"APIGUARD_SERVE_MAX_CONCURRENT", "1", true},
		{"APIGUARD_SERVE_MAX_CONCURRENT", "0", false},
		{"APIGUARD_SERVE_MAX_CONCURRENT", "many", false},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: err %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tc.name+":") {
			t.Errorf("%s=%s: error does not name the setting: %v", tc.name, tc.value, err)
		}
	}
}
