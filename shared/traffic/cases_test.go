package traffic

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/cases/*.golden.json from the current output")

// testCase is one input of testdata/cases: <name>.<json|ndjson|log>, optionally
// <name>.options.json, and the expected <name>.golden.json. The same table feeds the
// golden test, the Scanner conformance test, the fuzz seed corpus and a benchmark.
type testCase struct {
	name string
	ext  string
	body []byte
	opts Options
}

// caseOptions is the JSON form of Options in <name>.options.json.
type caseOptions struct {
	Format          Format   `json:"format"`
	Proxies         []string `json:"proxies"`
	ForwardedHeader string   `json:"forwarded_header"`
	MaxRecordBytes  int      `json:"max_record_bytes"`
	MaxBatchBytes   int      `json:"max_batch_bytes"`
}

func loadCases(tb testing.TB) []testCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []testCase
	for _, p := range paths {
		base := filepath.Base(p)
		if strings.HasSuffix(base, ".golden.json") || strings.HasSuffix(base, ".options.json") {
			continue
		}
		ext := filepath.Ext(base)
		c := testCase{name: strings.TrimSuffix(base, ext), ext: ext}
		if c.body, err = os.ReadFile(p); err != nil {
			tb.Fatal(err)
		}
		if ob, err := os.ReadFile(filepath.Join("testdata", "cases", c.name+".options.json")); err == nil {
			var co caseOptions
			if err := json.Unmarshal(ob, &co); err != nil {
				tb.Fatalf("%s.options.json: %v", c.name, err)
			}
			c.opts = Options{Format: co.Format, MaxRecordBytes: co.MaxRecordBytes, MaxBatchBytes: co.MaxBatchBytes,
				Trust: Trust{ForwardedHeader: co.ForwardedHeader}}
			for _, s := range co.Proxies {
				c.opts.Trust.Proxies = append(c.opts.Trust.Proxies, netip.MustParsePrefix(s))
			}
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		tb.Fatal("no cases in testdata/cases")
	}
	return cases
}

// goldenRecord is a Record as golden files show it: every field named, empty ones
// left out, addresses and durations as text.
type goldenRecord struct {
	Time          string `json:"time"`
	Client        string `json:"client,omitempty"`
	Peer          string `json:"peer,omitempty"`
	Forwarded     string `json:"forwarded,omitempty"`
	Method        string `json:"method"`
	Path          string `json:"path"`
	Query         string `json:"query,omitempty"`
	Template      string `json:"template"`
	API           string `json:"api,omitempty"`
	Operation     string `json:"operation,omitempty"`
	Status        int    `json:"status,omitempty"`
	RequestBytes  int64  `json:"request_bytes,omitempty"`
	ResponseBytes int64  `json:"response_bytes,omitempty"`
	Latency       string `json:"latency,omitempty"`
	Subscription  string `json:"subscription,omitempty"`
	User          string `json:"user,omitempty"`
	UserAgent     string `json:"user_agent,omitempty"`
	Host          string `json:"host,omitempty"`
	Malformed     bool   `json:"malformed,omitempty"`
	Note          string `json:"note,omitempty"`
}

type goldenBatch struct {
	Format   Format         `json:"format"`
	Records  []goldenRecord `json:"records"`
	SetAside []SetAside     `json:"set_aside,omitempty"`
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func render(tb testing.TB, b Batch) []byte {
	tb.Helper()
	g := goldenBatch{Format: b.Format, Records: []goldenRecord{}, SetAside: b.SetAside}
	for _, r := range b.Records {
		lat := ""
		if r.Latency != 0 {
			lat = r.Latency.String()
		}
		g.Records = append(g.Records, goldenRecord{
			Time: r.Time.Format(time.RFC3339Nano), Client: addr(r.Client), Peer: addr(r.Peer), Forwarded: r.Forwarded,
			Method: r.Method, Path: r.Path, Query: r.Query, Template: r.Template, API: r.API, Operation: r.Operation,
			Status: r.Status, RequestBytes: r.RequestBytes, ResponseBytes: r.ResponseBytes, Latency: lat,
			Subscription: r.Subscription, User: r.User, UserAgent: r.UserAgent, Host: r.Host, Malformed: r.Malformed, Note: r.Note,
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	if name := os.Getenv("TRAFFIC_CASE"); name != "" {
		t.Logf("running only case %s (TRAFFIC_CASE)", name)
	}
	for _, c := range loadCases(t) {
		if name := os.Getenv("TRAFFIC_CASE"); name != "" && name != c.name {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			b, err := Decode(c.body, c.opts)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkBatch(t, b)
			got := render(t, b)
			path := filepath.Join("testdata", "cases", c.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./shared/traffic -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update once the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestScannerMatchesDecode: for line-oriented inputs (NDJSON, log lines) the Scanner
// yields exactly what Decode does.
func TestScannerMatchesDecode(t *testing.T) {
	for _, c := range loadCases(t) {
		if c.ext == ".json" {
			continue // whole documents, possibly pretty-printed: Decode's business only
		}
		t.Run(c.name, func(t *testing.T) {
			want, err := Decode(c.body, c.opts)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := scanAll(bytes.NewReader(c.body), c.opts)
			if err != nil {
				t.Fatalf("Scanner: %v", err)
			}
			if !reflect.DeepEqual(render(t, got), render(t, want)) {
				t.Errorf("Scanner and Decode differ\n--- scanner\n%s\n--- decode\n%s", render(t, got), render(t, want))
			}
		})
	}
}

// scanAll drains a Scanner into a Batch.
func scanAll(r *bytes.Reader, opts Options) (Batch, error) {
	s := NewScanner(r, opts)
	b := Batch{Records: []Record{}}
	for {
		rec, ok := s.Next()
		if !ok {
			break
		}
		b.Records = append(b.Records, rec)
		b.SetAside = append(b.SetAside, s.SetAside()...)
	}
	b.SetAside = append(b.SetAside, s.SetAside()...)
	b.Format = s.Format()
	return b, s.Err()
}

// checkBatch asserts what holds for every batch: every record has a UTC time in range,
// and a method, a path and a template, unless it is Malformed: then it has a client, a
// status and no template (it is no operation), and its path, when read, is one; set-aside
// indexes rise and leave exactly the records' places.
func checkBatch(tb testing.TB, b Batch) {
	tb.Helper()
	for i, r := range b.Records {
		if r.Time.IsZero() || r.Time.Location() != time.UTC || r.Time.Year() < minYear || r.Time.Year() > maxYear {
			tb.Fatalf("record %d: time %v", i, r.Time)
		}
		switch {
		case r.Malformed:
			if !r.Client.IsValid() || r.Status <= 0 || r.Template != "" {
				tb.Fatalf("malformed record %d: client %v status %d template %q", i, r.Client, r.Status, r.Template)
			}
			if r.Method != "" && !isMethod([]byte(r.Method)) || r.Path != "" && !isTarget([]byte(r.Method), []byte(r.Path)) {
				tb.Fatalf("malformed record %d: method %q path %q read from junk", i, r.Method, r.Path)
			}
		case r.Method == "" || r.Path == "" || r.Template == "":
			tb.Fatalf("record %d: method %q path %q template %q", i, r.Method, r.Path, r.Template)
		}
		for _, a := range []netip.Addr{r.Client, r.Peer} {
			if a.IsValid() && (a.Is4In6() || a.Zone() != "") {
				tb.Fatalf("record %d: address %v not normalized", i, a)
			}
		}
		if r.Client.IsValid() != (r.Note == "" || r.Note == NoteNoForwarded || r.Note == NoteBadForwarded || r.Note == NoteTooManyHops || r.Note == NoteAllTrusted) {
			tb.Fatalf("record %d: client %v with note %q", i, r.Client, r.Note)
		}
	}
	total := len(b.Records) + len(b.SetAside)
	prev := -1
	for _, s := range b.SetAside {
		if s.Index <= prev || s.Index >= total {
			tb.Fatalf("set-aside index %d after %d, %d items in all", s.Index, prev, total)
		}
		prev = s.Index
		if s.Reason == "" || s.Line < 1 || len(s.Excerpt) > 3*excerptLen {
			tb.Fatalf("set-aside %+v", s)
		}
		for _, r := range s.Excerpt {
			if r < 0x20 || r == 0x7f {
				tb.Fatalf("set-aside excerpt %q holds a control character", s.Excerpt)
			}
		}
	}
}
