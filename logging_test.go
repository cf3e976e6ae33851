package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestLoggerFormats(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	// Under the host (and on any non-terminal) logs are JSON; the level is honoured.
	log := newLogger("warn", "auto", true, f)
	log.Info().Msg("hidden")
	log.Warn().Str("function", "alerts").Msg("shown")
	console := newLogger("info", "console", false, f)
	console.Info().Msg("readable")
	raw, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["message"] != "shown" || rec["function"] != "alerts" || rec["level"] != "warn" {
		t.Errorf("JSON line %q: %v", lines[0], err)
	}
	if json.Valid([]byte(lines[1])) || !strings.Contains(lines[1], "readable") {
		t.Errorf("console line %q", lines[1])
	}
}
