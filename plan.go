package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/record"
)

// offlineApp is the application layer over in-memory parts: the state of a fresh
// deployment, no queue (nothing is enforced), and the given clock. The offline
// commands run the server's flows on it, so they answer as the server does.
func offlineApp(cfg *config.Config, now func() time.Time, log zerolog.Logger) (*flow.App, *record.Memory, error) {
	// Detector state keeps every key it sees up to the bound and evicts on event time
	// only, never by the wall clock.
	store := record.NewMemory()
	app, err := flow.New(flow.Deps{Config: cfg, Store: store, Detect: detect.NewMemoryStore(2_000_000, 24*time.Hour),
		Now: now, Log: log})
	return app, store, err
}

// loadSettings reads the settings as serve does: the environment over a local
// settings file.
func loadSettings(path string) (*config.Config, error) {
	lookup, err := settingsLookup(path)
	if err != nil {
		return nil, err
	}
	return config.Load(lookup)
}

// runPlan decides one alert file offline: no store, no history (a fresh deployment),
// the same settings and flow as the server. It prints what `alerts` would answer.
func runPlan(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("plan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	settings := fl.String("settings", "", "local settings file, as for serve")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	args = fl.Args()
	if len(args) > 1 {
		fmt.Fprintln(stderr, "apiguard plan: one FILE (or - for standard input)")
		return 2
	}
	lookup, err := settingsLookup(*settings)
	if err != nil {
		return configError(stderr, err)
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return configError(stderr, err)
	}
	app, _, err := offlineApp(cfg, time.Now, zerolog.Nop())
	if err != nil {
		return configError(stderr, err)
	}
	in, name := stdin, "standard input"
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintln(stderr, "apiguard plan:", err)
			return 1
		}
		defer f.Close()
		in, name = f, args[0]
	}
	body, err := io.ReadAll(io.LimitReader(in, cfg.MaxBodyBytes+1))
	if err != nil {
		fmt.Fprintln(stderr, "apiguard plan:", err)
		return 1
	}
	if int64(len(body)) > cfg.MaxBodyBytes {
		fmt.Fprintf(stderr, "apiguard plan: %s exceeds %d bytes (APIGUARD_MAX_BODY_BYTES)\n", name, cfg.MaxBodyBytes)
		return 1
	}
	answer, err := app.Alerts(context.Background(), zerolog.Nop(), body, nil)
	if err != nil {
		fmt.Fprintf(stderr, "apiguard plan: %s: %v\n", name, err)
		return 1
	}
	if _, ok := answer.(flow.Handshake); ok {
		fmt.Fprintf(stderr, "apiguard plan: %s is an Event Grid validation event, not an alert\n", name)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(answer); err != nil {
		return 1
	}
	return 0
}
