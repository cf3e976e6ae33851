package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

var updateGolden = flag.Bool("update-process-golden", false, "rewrite testdata/process_golden.json")

// goldenTraffic is mixedTraffic over 40 minutes of event time with every detector
// given something to find late on (a rate spike, an exfiltration, credential stuffing
// and a shared address that fits the lowered threshold of goldenCases), plus a
// redelivered batch and a batch of late records.
func goldenTraffic() (ids []string, batches [][]traffic.Record) {
	base := mixedTraffic(7, 240, 1000, t0)
	spiker := netip.MustParseAddr("21.0.13.2")
	hoarder := netip.MustParseAddr("22.0.26.3")
	stuffer := netip.MustParseAddr("198.51.100.111")
	office := netip.MustParseAddr("203.0.113.50")
	for b, recs := range base {
		for i := range recs {
			r := &recs[i]
			switch {
			case b >= 200 && b < 216 && i%97 == 0:
				r.Client, r.Peer, r.Subscription, r.User, r.Status = stuffer, stuffer, "", fmt.Sprintf("victim-%d-%d", b, i), 401
			case b >= 220 && b < 226 && i%2 == 0:
				r.Client, r.Peer, r.Subscription, r.User = spiker, spiker, "", ""
			case b >= 100 && b < 112 && i%100 == 0: // anonymous traffic from the office NAT
				r.Client, r.Peer, r.Subscription, r.User = office, office, "", ""
				r.Path, r.Template, r.Status = fmt.Sprintf("/shop/nope/%d", i), "", 404
			case b >= 230 && b < 233 && i%100 == 0:
				r.Client, r.Peer, r.Subscription, r.User = hoarder, hoarder, "", ""
				r.Method, r.Path, r.Template, r.API, r.Status, r.ResponseBytes = "GET", "/shop/items", "/items", "shop", 200, 3<<20
			}
		}
	}
	for b, recs := range base {
		ids = append(ids, fmt.Sprintf("b%d", b))
		batches = append(batches, recs)
		switch b {
		case 50: // redelivered
			ids = append(ids, "b50")
			batches = append(batches, recs)
		case 100: // late records: batch 60 again, under another id
			ids = append(ids, "late")
			batches = append(batches, base[60])
		}
	}
	return ids, batches
}

type goldenCase struct {
	name  string
	cfg   func() *Config
	store func() *MemoryStore
}

var goldenCases = []goldenCase{
	{"default", func() *Config { return nil }, func() *MemoryStore { return NewMemoryStore(1_000_000, time.Hour) }},
	{"default_cold", func() *Config { return nil }, func() *MemoryStore { return newMemoryStore(1_000_000, 0, 100) }},
	{"tuned", func() *Config {
		c := DefaultConfig()
		c.Window = Duration(time.Minute)
		c.AllowedLateness = Duration(30 * time.Second)
		c.Flood.PerAPI = map[string]int{"shop": 40, "identity": 5}
		c.Shared.MinIdentities = 3
		c.Shared.MinIdentifiedShare = 0.5
		c.BruteForce.Span = Duration(2 * time.Minute)
		c.RateSpike.MinRequests = 10
		c.RateSpike.MinHistory = 3
		c.Exfiltration.MinHistory = 3
		c.Exfiltration.MinBytes = 1 << 20
		c.Enumeration.Threshold = 10
		c.MinConfidence = 0.55
		return &c
	}, func() *MemoryStore { return NewMemoryStore(3000, 10*time.Minute) }},
	{"some_detectors", func() *Config {
		c := DefaultConfig()
		c.Detectors = []string{vocab.DetectorProbing, vocab.DetectorEnumeration, vocab.DetectorExfiltration}
		return &c
	}, func() *MemoryStore { return NewMemoryStore(1_000_000, time.Hour) }},
}

type goldenResult struct {
	Findings       int            `json:"findings"`
	ByDetector     map[string]int `json:"by_detector"`
	FindingsSHA256 string         `json:"findings_sha256"`
	StatesSHA256   string         `json:"states_sha256"`
	States         int            `json:"states"`
}

func runGolden(t *testing.T, gc goldenCase, ids []string, batches [][]traffic.Record, dump string) goldenResult {
	store := gc.store()
	e := testEngine(t, gc.cfg(), store)
	fh := sha256.New()
	res := goldenResult{ByDetector: map[string]int{}}
	var df *os.File
	if dump != "" {
		var err error
		if df, err = os.Create(filepath.Join(dump, gc.name+".findings.jsonl")); err != nil {
			t.Fatal(err)
		}
		defer df.Close()
	}
	for i, b := range batches {
		fs, err := e.Process(context.Background(), ids[i], b)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			j, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			j = append(j, '\n')
			fh.Write(j)
			if df != nil {
				fmt.Fprintf(df, "%d %s", i, j)
			}
			res.Findings++
			res.ByDetector[f.Detector]++
		}
		fmt.Fprintf(fh, "-- %d\n", i)
	}
	res.FindingsSHA256 = hex.EncodeToString(fh.Sum(nil))
	keys := make([]Key, 0, len(store.m))
	for k := range store.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	sh := sha256.New()
	for _, k := range keys {
		st := store.Get(k)
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(sh, "%s %x\n", k, b)
	}
	res.States = len(keys)
	res.StatesSHA256 = hex.EncodeToString(sh.Sum(nil))
	return res
}

// TestProcessGolden pins Process's findings (every field, byte for byte as JSON) and
// the encoded states it leaves behind on long mixed traffic, under several
// configurations: optimizations of the engine must not change either.
// GOLDEN_DUMP=dir writes the findings as JSON lines there, for a diff.
func TestProcessGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	ids, batches := goldenTraffic()
	path := filepath.Join("testdata", "process_golden.json")
	got := map[string]goldenResult{}
	for _, gc := range goldenCases {
		got[gc.name] = runGolden(t, gc, ids, batches, os.Getenv("GOLDEN_DUMP"))
	}
	for _, gc := range goldenCases {
		for _, d := range []string{vocab.DetectorFlood, vocab.DetectorProbing, vocab.DetectorEnumeration} {
			if got[gc.name].ByDetector[d] == 0 && gc.name != "some_detectors" || gc.name == "some_detectors" && d != vocab.DetectorFlood && got[gc.name].ByDetector[d] == 0 {
				t.Errorf("%s: no %s finding: the golden traffic does not exercise it", gc.name, d)
			}
		}
	}
	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]goldenResult
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, gc := range goldenCases {
		g, w := got[gc.name], want[gc.name]
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s:\n got %s\nwant %s", gc.name, gj, wj)
		}
	}
}
