package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/report"
)

const triageUsage = `usage:
  apiguard triage snapshot --out DIR [--settings FILE]
      read the inventory from Azure (APIGUARD_TRIAGE_SCOPES) and write every ARM answer to DIR,
      with apiguard's own last-seen data when Table Storage is configured
  apiguard triage --snapshot DIR [--previous FILE] [--format json|md|html] [--out FILE] [--settings FILE]
      rank a snapshot offline, against a previous report (the JSON format), as the server would
  apiguard triage show latest|YYYY-MM [--format md|json|html] [client flags]
  apiguard triage run [client flags]
      the stored reports and a run now, through the control API (see apiguard blocks -h for --url, --key)
`

// runTriage is the triage offline: a snapshot of the inventory, and the report of one.
func runTriage(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "snapshot":
			return runTriageSnapshot(args[1:], stdout, stderr)
		case "show", "run":
			return runClient(append([]string{"triage"}, args...), stdout, stderr)
		}
	}
	fl := flag.NewFlagSet("triage", flag.ContinueOnError)
	fl.SetOutput(stderr)
	snapshot := fl.String("snapshot", "", "a snapshot folder (apiguard triage snapshot)")
	previous := fl.String("previous", "", "last month's report, as JSON, to compare with")
	format := fl.String("format", "json", "json, md or html")
	out := fl.String("out", "", "write the report to FILE instead of standard output")
	settings := fl.String("settings", "", "local settings file, as for serve (sensitive tags, throttle baseline, capacity)")
	if err := fl.Parse(args); err != nil || fl.NArg() > 0 || *snapshot == "" {
		fmt.Fprint(stderr, triageUsage)
		return 2
	}
	if *format != "json" && *format != "md" && *format != "html" {
		fmt.Fprintf(stderr, "apiguard triage: --format %q is not json, md or html\n", *format)
		return 2
	}
	cfg, err := loadSettings(*settings)
	if err != nil {
		return configError(stderr, err)
	}
	doc, err := triageOffline(context.Background(), cfg, *snapshot, *previous, *format)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard triage:", err)
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, doc, 0o644); err != nil {
			fmt.Fprintln(stderr, "apiguard triage:", err)
			return 1
		}
		return 0
	}
	_, err = stdout.Write(doc)
	return exitOf(err)
}

// triageOffline runs the server's classification over a snapshot: the same collector
// with ARM answered from the folder, the same application layer over in-memory parts
// holding the previous report, ages judged against the snapshot's collected time.
func triageOffline(ctx context.Context, cfg *config.Config, dir, previous, format string) ([]byte, error) {
	opts, err := collect.SnapshotOptions(dir)
	if err != nil {
		return nil, err
	}
	inv, err := collect.Collect(ctx, opts)
	if err != nil {
		return nil, err
	}
	app, store, err := offlineApp(cfg, func() time.Time { return inv.Collected }, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	if previous != "" {
		raw, err := os.ReadFile(previous)
		if err != nil {
			return nil, fmt.Errorf("--previous: %w", err)
		}
		var prev triage.Classification // the JSON report decodes into it, version and summary aside
		if err := json.Unmarshal(raw, &prev); err != nil || prev.Month == "" {
			return nil, fmt.Errorf("--previous %s is not a triage report in JSON (%v)", previous, err)
		}
		if err := store.PutTriageRun(ctx, record.TriageRun{Month: prev.Month, Created: prev.Collected, Report: raw}); err != nil {
			return nil, fmt.Errorf("--previous: %w", err)
		}
	}
	c, err := app.Classify(ctx, inv)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch format {
	case "md":
		err = report.Markdown(&buf, c)
	case "html":
		err = report.HTML(&buf, c, report.HTMLOptions{})
	default:
		err = report.JSON(&buf, c)
	}
	return buf.Bytes(), err
}

// runTriageSnapshot reads the inventory from Azure, recording every answer.
func runTriageSnapshot(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("triage snapshot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "", "the folder to write (new or empty)")
	settings := fl.String("settings", "", "local settings file, as for serve")
	if err := fl.Parse(args); err != nil || fl.NArg() > 0 || *out == "" {
		fmt.Fprint(stderr, triageUsage)
		return 2
	}
	cfg, err := loadSettings(*settings)
	if err != nil {
		return configError(stderr, err)
	}
	if len(cfg.TriageScopes) == 0 {
		return configError(stderr, fmt.Errorf("APIGUARD_TRIAGE_SCOPES names nothing, and no APIM target has a resource id"))
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard triage snapshot: credential:", err)
		return 1
	}
	opts := collect.Options{Scopes: cfg.TriageScopes, Credential: cred, ReadsPerSecond: cfg.TriageReadsPerSecond}
	if cfg.TablesConnection != "" || cfg.TablesURL != "" {
		store, err := flow.OpenTables(cfg)
		if err != nil {
			return configError(stderr, err)
		}
		opts.LastSeen = store.DetectStates()
	} else {
		fmt.Fprintln(stderr, "apiguard triage snapshot: no Table Storage configured: the snapshot holds no apiguard last-seen data")
	}
	stats, err := collect.TakeSnapshot(context.Background(), opts, *out)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard triage snapshot:", err)
		return 1
	}
	fmt.Fprintf(stdout, "snapshot of %s in %s: %d ARM reads\n", cfg.TriageScopes, *out, stats.Calls)
	return 0
}

func exitOf(err error) int {
	if err != nil {
		return 1
	}
	return 0
}
