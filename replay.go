package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/traffic"
)

// replayBatch is how many records replay hands the engine at once: the size of a
// typical Service Bus batch, so windows, state merges and findings behave as in
// production.
const replayBatch = 1000

// replayLine is one finding as replay prints it, with its decisions under --decide.
type replayLine struct {
	detect.Finding
	Decisions []decide.Decision `json:"decisions,omitempty"`
}

// runReplay runs the detectors over log files on event time, in-process (no store),
// and prints findings as JSON lines; a summary goes to stderr.
func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("replay", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "auto", "log format: auto, apim-diagnostic, apim-loganalytics, appgw, frontdoor, combined")
	cfgFile := fl.String("config", "", "detector thresholds, a JSON file (see shared/detect/README.md); default thresholds otherwise")
	proxies := fl.String("trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For is trusted")
	withDecisions := fl.Bool("decide", false, "add the decisions the playbook would take (settings as for plan)")
	settings := fl.String("settings", "", "settings file for --decide (default local.settings.json, else the sample)")
	progress := fl.Duration("progress", 5*time.Second, "how often to report progress on stderr (0: never)")
	sorted := fl.Bool("sort", false, "replay the records in event-time order (an external merge sort: for files not in time order)")
	sortMemory := fl.Int("sort-memory", traffic.DefaultSortMemory>>20, "with --sort, MiB of records held in memory before a sorted run is spilled to $TMPDIR")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(stderr, replayUsage)
		return 2
	}
	if *sortMemory < 1 {
		fmt.Fprintln(stderr, "apiguard replay: --sort-memory must be at least 1 (MiB)")
		return 2
	}
	trusted, err := config.ParsePrefixes(*proxies)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard replay: --trusted-proxies:", err)
		return 2
	}
	// Without --decide the settings do not matter: the defaults stand in for them.
	lookup := func(string) (string, bool) { return "", false }
	if *withDecisions {
		if lookup, err = settingsLookup(*settings); err != nil {
			fmt.Fprintln(stderr, "apiguard replay:", err)
			return 2
		}
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return configError(stderr, err)
	}
	if *cfgFile != "" {
		raw, err := os.ReadFile(*cfgFile)
		if err != nil {
			fmt.Fprintln(stderr, "apiguard replay: --config:", err)
			return 2
		}
		if _, err := detect.ParseConfig(raw); err != nil {
			fmt.Fprintf(stderr, "apiguard replay: --config %s: %v\n", *cfgFile, err)
			return 2
		}
		cfg.DetectConfig = string(raw)
	}
	dc, err := flow.DetectConfig(cfg)
	if err != nil {
		return configError(stderr, err)
	}
	// Replay decides on event time: the clock is the latest event time read so far.
	clock := &eventClock{}
	app, _, err := offlineApp(cfg, clock.now, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(stderr, "apiguard replay:", err)
		return 2
	}
	r := &replayer{app: app, clock: clock, decide: *withDecisions, out: bufio.NewWriterSize(stdout, 64*1024), stderr: stderr,
		pending: map[string]replayLine{}, flagged: map[string]map[string]bool{}, every: *progress,
		late: lateCounter{window: time.Duration(dc.Window), lateness: time.Duration(dc.AllowedLateness)}}
	opts := traffic.Options{Format: traffic.Format(*format), Trust: traffic.Trust{Proxies: trusted}}
	sortBytes := int64(0)
	if *sorted {
		sortBytes = int64(*sortMemory) << 20
	}
	defer replayGC(sortBytes)()
	start := time.Now()
	if *sorted {
		err = r.sorted(fl.Args(), stdin, opts, traffic.SortOptions{MemoryBytes: *sortMemory << 20})
	} else {
		err = r.inOrder(fl.Args(), stdin, opts)
	}
	if err != nil {
		fmt.Fprintln(stderr, "apiguard replay:", err)
		return 1
	}
	if err := r.flush(time.Time{}); err != nil {
		fmt.Fprintln(stderr, "apiguard replay:", err)
		return 1
	}
	if err := r.out.Flush(); err != nil {
		fmt.Fprintln(stderr, "apiguard replay:", err)
		return 1
	}
	r.summary(time.Since(start))
	return 0
}

const replayUsage = `usage: apiguard replay [--format F] [--config FILE] [--trusted-proxies CIDRS] [--decide [--settings FILE]]
                      [--sort [--sort-memory MIB]] [--progress D] FILE... (- for stdin)
  Files not in event-time order: the summary counts the records that arrived after their
  window had closed; --sort replays them in event-time order (memory bounded by --sort-memory,
  sorted runs spilled to $TMPDIR).`

type replayer struct {
	app    *flow.App
	clock  *eventClock
	decide bool
	out    *bufio.Writer
	stderr io.Writer
	every  time.Duration

	batches  int
	records  int
	setAside int
	reasons  map[string]int
	latest   time.Time                  // latest event time seen
	late     lateCounter                // records read after their window had closed
	sort     *traffic.SortStats         // with --sort
	pending  map[string]replayLine      // findings by id, the latest version, until their window is over
	flagged  map[string]map[string]bool // detector -> keys flagged
	printed  int
	lastNote time.Time
}

// inOrder replays each file as it is, in batches of replayBatch records.
func (r *replayer) inOrder(names []string, stdin io.Reader, opts traffic.Options) error {
	for _, name := range names {
		b := r.batcher(name)
		if err := r.file(name, stdin, opts, b.add); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := b.flush(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// sorted reads every file into an external sort, then replays the records in
// event-time order (equal times in input order) as one stream.
func (r *replayer) sorted(names []string, stdin io.Reader, opts traffic.Options, so traffic.SortOptions) error {
	s := traffic.NewSorter(so)
	defer s.Close() // run files are unlinked at creation; this removes any left elsewhere
	read := 0
	add := func(rec traffic.Record) error {
		read++
		if r.every > 0 && read%replayBatch == 0 && time.Since(r.lastNote) >= r.every {
			r.lastNote = time.Now()
			fmt.Fprintf(r.stderr, "replay: sorting, %d records read\n", read)
		}
		return s.Add(rec)
	}
	for _, name := range names {
		if err := r.file(name, stdin, opts, add); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := s.Sorted(); err != nil {
		return err
	}
	b := r.batcher("sorted")
	for rec, ok := s.Next(); ok; rec, ok = s.Next() {
		if err := b.add(rec); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	st := s.Stats()
	r.sort = &st
	return b.flush()
}

// file decodes one file (or stdin) and hands each record to emit, tallying what was
// set aside.
func (r *replayer) file(name string, stdin io.Reader, opts traffic.Options, emit func(traffic.Record) error) error {
	var in io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	sc := traffic.NewScanner(in, opts)
	n := 0
	for {
		rec, ok := sc.Next()
		if !ok {
			break
		}
		if err := emit(rec); err != nil {
			return err
		}
		if n++; n%replayBatch == 0 {
			r.drain(sc) // the scanner keeps a bounded number of set-aside reasons
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	r.drain(sc)
	_, setAside, _ := sc.Counts()
	r.setAside += setAside
	return nil
}

// batcher cuts a stream of records into the engine's batches, named id#0, id#1, ...
type batcher struct {
	r    *replayer
	id   string
	n    int
	recs []traffic.Record
}

func (r *replayer) batcher(id string) *batcher {
	return &batcher{r: r, id: id, recs: make([]traffic.Record, 0, replayBatch)}
}

func (b *batcher) add(rec traffic.Record) error {
	b.recs = append(b.recs, rec)
	if len(b.recs) < replayBatch {
		return nil
	}
	return b.flush()
}

func (b *batcher) flush() error {
	if len(b.recs) == 0 {
		return nil
	}
	err := b.r.process(fmt.Sprintf("%s#%d", b.id, b.n), b.recs)
	b.n++
	clear(b.recs)
	b.recs = b.recs[:0]
	return err
}

// lateCounter counts the records read after their window had closed, by the file's
// own clock: the window (aligned to the epoch, as the detectors align it) ended, plus
// the allowed lateness, at or before the newest event time read before the record.
// The detectors judge lateness per key (README of shared/detect, "Windows, event
// time, lateness"): a key's newest time is never past the file's, so every record a
// key's state drops as late is counted here; the count can be higher, by records of a
// key that was quiet while the file moved on.
type lateCounter struct {
	window, lateness time.Duration
	newest           int64 // Unix seconds of the newest event time read; 0 before any
	n                int
}

func (c *lateCounter) see(t time.Time) {
	sec := t.Unix()
	if size := int64(c.window / time.Second); size > 0 && c.newest > 0 {
		end := sec - sec%size + size
		if end+int64(c.lateness/time.Second) <= c.newest {
			c.n++
		}
	}
	c.newest = max(c.newest, sec)
}

// drain tallies the reasons of the records set aside so far.
func (r *replayer) drain(sc *traffic.Scanner) {
	for _, s := range sc.SetAside() {
		if r.reasons == nil {
			r.reasons = map[string]int{}
		}
		r.reasons[s.Reason]++
	}
}

func (r *replayer) process(id string, recs []traffic.Record) error {
	for _, rec := range recs {
		r.late.see(rec.Time)
		if rec.Time.After(r.latest) {
			r.latest = rec.Time
		}
	}
	r.clock.t = r.latest
	var findings []detect.Finding
	var outcomes []flow.Outcome
	if r.decide {
		res, err := r.app.Process(context.Background(), zerolog.Nop(), id, recs)
		if err != nil {
			return err
		}
		findings, outcomes = res.Findings, res.Incidents
	} else {
		var err error
		if findings, err = r.app.Detect(context.Background(), id, recs); err != nil {
			return err
		}
	}
	r.batches++
	r.records += len(recs)
	for i, f := range findings {
		// The latest version of a finding is printed, with the decisions taken when it
		// was first seen: a later sighting is a duplicate that answers them again, as
		// online.
		l := replayLine{Finding: f}
		if r.decide {
			l.Decisions = outcomes[i].Decisions
		}
		r.pending[f.ID] = l
	}
	// A finding is printed once its window is well over (event time), in its final
	// version: the same input always prints the same lines.
	if err := r.flush(r.latest.Add(-2 * time.Hour)); err != nil {
		return err
	}
	if r.every > 0 && time.Since(r.lastNote) >= r.every {
		r.lastNote = time.Now()
		fmt.Fprintf(r.stderr, "replay: %d records, %d findings so far, event time %s\n", r.records, r.printed+len(r.pending), r.latest.Format(time.RFC3339))
	}
	return nil
}

// flush prints the pending findings whose window ended before cutoff (all of them for
// the zero time), in a stable order.
func (r *replayer) flush(cutoff time.Time) error {
	var ready []replayLine
	for id, l := range r.pending {
		if cutoff.IsZero() || l.WindowEnd.Before(cutoff) {
			ready = append(ready, l)
			delete(r.pending, id)
		}
	}
	slices.SortFunc(ready, func(a, b replayLine) int {
		return cmp.Or(a.WindowStart.Compare(b.WindowStart), cmp.Compare(a.Detector, b.Detector),
			cmp.Compare(a.KeyType, b.KeyType), cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
	})
	for _, l := range ready {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		r.out.Write(b)
		r.out.WriteByte('\n')
		r.printed++
		if r.flagged[l.Detector] == nil {
			r.flagged[l.Detector] = map[string]bool{}
		}
		r.flagged[l.Detector][string(l.KeyType)+" "+l.Key] = true
	}
	return nil
}

func (r *replayer) summary(took time.Duration) {
	rate := float64(r.records) / max(took.Seconds(), 1e-9)
	fmt.Fprintf(r.stderr, "replay: %d records in %d batches, %d set aside, %d late, %d findings, %.0f records/s\n",
		r.records, r.batches, r.setAside, r.late.n, r.printed, rate)
	if r.late.n > 0 {
		fmt.Fprintf(r.stderr, "  late %d: records read after their %s window had closed (window end + allowed lateness %s at or before "+
			"the newest event time read before them); the detectors drop them or judge their window without them: use --sort\n",
			r.late.n, r.late.window, r.late.lateness)
	}
	if st := r.sort; st != nil {
		fmt.Fprintf(r.stderr, "  sorted %d records by event time: %d runs spilled (%.1f MiB), %d merge passes\n",
			st.Records, st.Runs, float64(st.SpilledBytes)/(1<<20), st.MergePasses)
	}
	dets := make([]string, 0, len(r.flagged))
	for d := range r.flagged {
		dets = append(dets, d)
	}
	sort.Strings(dets)
	for _, d := range dets {
		keys := make([]string, 0, len(r.flagged[d]))
		for k := range r.flagged[d] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		shown := keys[:min(len(keys), 10)]
		more := ""
		if len(keys) > len(shown) {
			more = fmt.Sprintf(" (+%d more)", len(keys)-len(shown))
		}
		fmt.Fprintf(r.stderr, "  %-20s %d keys flagged: %s%s\n", d, len(keys), strings.Join(shown, ", "), more)
	}
	reasons := make([]string, 0, len(r.reasons))
	for k := range r.reasons {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(r.reasons[b], r.reasons[a]), cmp.Compare(a, b)) })
	for _, k := range reasons[:min(len(reasons), 10)] {
		fmt.Fprintf(r.stderr, "  set aside %d: %s\n", r.reasons[k], k)
	}
	if len(reasons) > 10 {
		fmt.Fprintf(r.stderr, "  set aside: %d other reasons\n", len(reasons)-10)
	}
}

// GC settings of replay, unless GOGC or GOMEMLIMIT say otherwise. Replay is a batch
// command whose live heap is small (the detector state of the keys seen, one batch of
// records, the sorter's buffer) while it allocates about 700 bytes a record: at the
// default GOGC of 100 the collector ran every few megabytes, about eight times per
// 60,000 records, and with its write barriers cost about 15% of a one-core replay.
// GOGC 400 lets the heap grow to five times what is live before collecting; the soft
// memory limit keeps that growth in check once the state is big (a full
// MemoryStore of 2,000,000 keys is about 460 MB live): the collector then runs as
// often as it must to stay under the limit, which is above anything the store can
// hold, so it never runs continuously.
const (
	replayGCPercent   = 400
	replayMemoryLimit = 1 << 30
)

// replayGC applies replay's GC settings for its run (sortBytes: the sorter's memory,
// added to the limit) and returns what puts the previous ones back. The runtime's
// current settings tell whether the environment chose them (GOGC other than 100, a
// memory limit): only shared/config reads the environment.
func replayGC(sortBytes int64) (restore func()) {
	var undo []func()
	if old := debug.SetGCPercent(replayGCPercent); old != 100 {
		debug.SetGCPercent(old) // GOGC chose it
	} else {
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if old := debug.SetMemoryLimit(-1); old == math.MaxInt64 { // no GOMEMLIMIT
		debug.SetMemoryLimit(replayMemoryLimit + 2*sortBytes)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}

// eventClock is replay's clock: the latest event time read, so decisions, expiries and
// the hourly cap run on the logs' time as the server runs on its own.
type eventClock struct{ t time.Time }

func (c *eventClock) now() time.Time { return c.t }
