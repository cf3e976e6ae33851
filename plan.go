package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
)

// runPlan decides one alert file offline: no store, no history (a fresh deployment),
// the same playbook and settings as the server. It prints one JSON document per alert.
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
	batch, err := alert.Decode(body, nil)
	if err != nil {
		fmt.Fprintf(stderr, "apiguard plan: %s: %v\n", name, err)
		return 1
	}
	if batch.ValidationCode != "" {
		fmt.Fprintf(stderr, "apiguard plan: %s is an Event Grid validation event, not an alert\n", name)
		return 1
	}
	for _, r := range batch.Rejected {
		fmt.Fprintf(stderr, "apiguard plan: element %d set aside: %s\n", r.Index, r.Reason)
	}
	engine := decide.New(cfg, decide.NoHistory{}, time.Now)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	for i := range batch.Incidents {
		inc := &batch.Incidents[i]
		decisions, err := engine.Decide(context.Background(), inc)
		if err != nil {
			fmt.Fprintln(stderr, "apiguard plan:", err)
			return 1
		}
		if err := enc.Encode(struct {
			Incident  *alert.Incident   `json:"incident"`
			Decisions []decide.Decision `json:"decisions"`
		}{inc, decisions}); err != nil {
			return 1
		}
	}
	return 0
}
