package detect_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/traffic/trafficsim"
)

// simSeeds is how many generated scenarios the default configuration is scored on
// (issue 12: at least ten). -sim-seeds runs more, to choose defaults on more data.
var simSeeds = flag.Int("sim-seeds", 10, "scenarios TestSimulatedPrecisionRecall scores (seeds 1..n)")

// simReport, when set, writes the per-seed table README.md quotes to this file.
var simReport = flag.String("sim-report", "", "write the per-seed precision/recall table (Markdown) to this file")

// Precision and recall every one of the first ten seeds must reach (issue 12's
// acceptance). Seeds beyond them (-sim-seeds) are held out: they were not looked at
// while the defaults were chosen, and are logged, not asserted (README.md, "Measured
// on generated traffic").
const (
	targetPrecision = 0.95
	targetRecall    = 0.9
	assertedSeeds   = 10
)

// The default configuration on generated traffic (shared/traffic/trafficsim: two
// hours of a mid-sized API, varied benign populations and planted attackers of every
// class), one engine per seed fed 1,000-record batches in event-time order, as the
// traffic function is. Every seed must reach the targets; the false positives and
// misses are printed for a person reading a failure.
func TestSimulatedPrecisionRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: generated scenarios not scored")
	}
	var total trafficsim.Result
	var rows []string
	for seed := uint64(1); seed <= uint64(*simSeeds); seed++ {
		s := trafficsim.Generate(trafficsim.DefaultConfig(), seed)
		r, warm := scoreScenario(t, s, detect.DefaultConfig())
		rows = append(rows, fmt.Sprintf("| %d | %d | %d | %d | %d | %.3f | %d/%d | %.3f | %d |", seed, len(s.Records), len(s.Benign),
			r.Flagged, len(r.FalsePositives), r.Precision, r.Found, r.Attackers, r.Recall, warm))
		if r.Precision < targetPrecision || r.Recall < targetRecall {
			report := t.Errorf
			if seed > assertedSeeds {
				report = t.Logf
			}
			report("seed %d under the targets: precision %.3f (target %.2f), recall %.3f (target %.2f)\n%s", seed, r.Precision,
				targetPrecision, r.Recall, targetRecall, r.String())
		}
		total.Add(r)
	}
	t.Logf("%d seeds pooled: precision %.3f, recall %.3f (%d attackers)", *simSeeds, total.Precision, total.Recall, total.Attackers)
	classes := make([]string, 0, len(total.Classes))
	for c, v := range total.Classes {
		classes = append(classes, fmt.Sprintf("| %s | %d/%d |", c, v.Found, v.Attackers))
	}
	slices.Sort(classes)
	dets := make([]string, 0, len(total.Detectors))
	for d, v := range total.Detectors {
		dets = append(dets, fmt.Sprintf("| %s | %d | %d |", d, v.TruePositives, v.FalsePositives))
	}
	slices.Sort(dets)
	report := "| seed | records | benign keys | flagged keys | false positives | precision | attackers found | recall | warm-up findings |\n" +
		"|---|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n" +
		fmt.Sprintf("| all | | | %d | %d | %.3f | %d/%d | %.3f | |\n", total.Flagged, len(total.FalsePositives), total.Precision,
			total.Found, total.Attackers, total.Recall) +
		"\n| attacker class | found |\n|---|---|\n" + strings.Join(classes, "\n") + "\n" +
		"\n| detector | attacker keys flagged | other keys flagged |\n|---|---|---|\n" + strings.Join(dets, "\n") + "\n"
	t.Log("\n" + report)
	if *simReport != "" {
		if err := os.WriteFile(*simReport, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// warmup is how much of a scenario's ordinary traffic the engine sees first, a day
// earlier: a deployed engine has run before, and the baselines (a busy integration's
// own volume, an operation's typical response) are what it learnt then. The findings
// of the warm-up are counted apart (warmupFindings), never dropped silently.
const warmup = time.Hour

// scoreScenario runs s through a fresh engine with cfg, after the warm-up, and scores
// every finding of the scenario itself.
func scoreScenario(t testing.TB, s *trafficsim.Scenario, cfg detect.Config) (trafficsim.Result, int) {
	t.Helper()
	e, err := detect.NewEngine(&cfg, detect.NewMemoryStore(1_000_000, 3*time.Hour), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var before []traffic.Record
	for i := range s.Records {
		r := s.Records[i]
		if !r.Time.Before(s.Start.Add(warmup)) {
			break
		}
		if s.AttackerOf(i) < 0 {
			r.Time = r.Time.Add(-24 * time.Hour)
			before = append(before, r)
		}
	}
	process := func(recs []traffic.Record, name string) []trafficsim.Flag {
		var flags []trafficsim.Flag
		for i := 0; i < len(recs); i += 1000 {
			fs, err := e.Process(context.Background(), fmt.Sprintf("sim-%d-%s-%d", s.Seed, name, i), recs[i:min(i+1000, len(recs))])
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				flags = append(flags, trafficsim.Flag{Key: trafficsim.Key{Type: f.KeyType, Value: f.Key}, Detector: f.Detector})
			}
		}
		return flags
	}
	warm := process(before, "warmup")
	return trafficsim.Score(s, process(s.Records, "scenario")), len(warm)
}
