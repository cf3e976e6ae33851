package trafficsim

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.* from the current output")

// writeConfig is smallConfig with one attacker of every class (Vary 0: exactly
// thirteen), so that every kind of record goes through the writers.
func writeConfig(edge float64) Config {
	c := smallConfig()
	c.Attackers, c.Vary, c.EdgeProxy = len(Classes()), 0, edge
	return c
}

// writers are the two file formats, with what each carries.
var writers = []struct {
	name   string
	write  func(io.Writer, []traffic.Record) error
	format traffic.Format
	// keep says which generated records the file holds.
	keep func(*traffic.Record) bool
	// same compares a decoded record with the generated one on what the format carries.
	same func(got, want *traffic.Record) bool
}{
	{"combined", WriteCombined, traffic.FormatCombined,
		func(*traffic.Record) bool { return true },
		func(got, want *traffic.Record) bool {
			w := *want
			// The combined line has no subscription, host, API, operation, request
			// size or latency, and its time is to the second.
			w.Time, w.Subscription, w.Host, w.API, w.Operation, w.RequestBytes, w.Latency =
				w.Time.Truncate(time.Second), "", "", "", "", 0, 0
			if w.Malformed { // the junk request reads as no method and no path
				return got.Malformed && got.Client == w.Client && got.Peer == w.Peer && got.Time.Equal(w.Time) &&
					got.Status == w.Status && got.ResponseBytes == w.ResponseBytes && got.User == ""
			}
			return *got == w
		}},
	{"apim-diagnostic", WriteAPIMDiagnostic, traffic.FormatAPIMDiagnostic,
		func(r *traffic.Record) bool { return !r.Malformed }, // APIM never sees a request that is not HTTP
		func(got, want *traffic.Record) bool { return *got == *want }},
}

// TestWritersRoundTrip writes a scenario (with and without an Application Gateway in
// front) and decodes the file as apiguard replay does: auto-detected, with the
// scenario's trusted proxies. The decoded records must count for the same keys at
// the same times, and carry what the format carries.
func TestWritersRoundTrip(t *testing.T) {
	for _, edge := range []float64{0, 1} {
		s := Generate(writeConfig(edge), 3)
		if (len(s.Proxies) > 0) != (edge == 1) {
			t.Fatalf("edge proxy probability %v gave proxies %v", edge, s.Proxies)
		}
		malformed := slices.ContainsFunc(s.Records, func(r traffic.Record) bool { return r.Malformed })
		if !malformed || len(s.Attackers) != len(Classes()) {
			t.Fatalf("%d attackers, malformed records: %v", len(s.Attackers), malformed)
		}
		for _, w := range writers {
			name := w.name + "/direct"
			if edge == 1 {
				name = w.name + "/behind-proxy"
			}
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := w.write(&buf, s.Records); err != nil {
					t.Fatal(err)
				}
				var want []*traffic.Record
				for i := range s.Records {
					if w.keep(&s.Records[i]) {
						want = append(want, &s.Records[i])
					}
				}
				opts := traffic.Options{Trust: traffic.Trust{Proxies: s.Proxies}}
				sc := traffic.NewScanner(bytes.NewReader(buf.Bytes()), opts)
				var got []traffic.Record
				for r, ok := sc.Next(); ok; r, ok = sc.Next() {
					got = append(got, r)
				}
				if err := sc.Err(); err != nil {
					t.Fatal(err)
				}
				if sc.Format() != w.format {
					t.Errorf("read as %s", sc.Format())
				}
				if _, asides, _ := sc.Counts(); asides > 0 {
					t.Errorf("%d lines set aside, first: %+v", asides, sc.SetAside()[0])
				}
				if len(got) != len(want) {
					t.Fatalf("decoded %d records, wrote %d", len(got), len(want))
				}
				bad := 0
				for i := range got {
					g, wr := &got[i], want[i]
					wantKeys := KeysOf(wr)
					if w.format == traffic.FormatCombined {
						wantKeys = slices.DeleteFunc(wantKeys, func(k Key) bool { return k.Type == vocab.KeySubscription })
					}
					if !slices.Equal(KeysOf(g), wantKeys) || !g.Time.Equal(wr.Time.Truncate(time.Second)) && !g.Time.Equal(wr.Time) ||
						!w.same(g, wr) {
						if bad++; bad <= 3 {
							t.Errorf("record %d decoded as\n%+v\nwritten from\n%+v", i, *g, *wr)
						}
					}
				}
				if bad > 3 {
					t.Errorf("%d records of %d differ", bad, len(got))
				}
				// The same file read whole, as one batch.
				batch, err := traffic.Decode(buf.Bytes(), opts)
				if err != nil || len(batch.SetAside) > 0 || !slices.Equal(batch.Records, got) {
					t.Errorf("Decode of the whole file: %v, %d set aside, same records as the Scanner: %v",
						err, len(batch.SetAside), slices.Equal(batch.Records, got))
				}
			})
		}
	}
}

// TestDiagnosticBatches: one {"records":[...]} document per line, at most 1,000
// records each, as Azure Monitor delivers them.
func TestDiagnosticBatches(t *testing.T) {
	s := Generate(writeConfig(0), 3)
	var buf bytes.Buffer
	if err := WriteAPIMDiagnostic(&buf, s.Records); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	n := 0
	for i, line := range lines {
		b, err := traffic.Decode(line, traffic.Options{Format: traffic.FormatAPIMDiagnostic})
		if err != nil || len(b.Records) == 0 || len(b.Records) > 1000 || i < len(lines)-1 && len(b.Records) != 1000 {
			t.Fatalf("line %d of %d: %d records, %v", i+1, len(lines), len(b.Records), err)
		}
		n += len(b.Records)
	}
	if want := len(s.Records) - countMalformed(s.Records); n != want {
		t.Errorf("%d records in %d documents, want %d", n, len(lines), want)
	}
}

func countMalformed(recs []traffic.Record) int {
	n := 0
	for i := range recs {
		if recs[i].Malformed {
			n++
		}
	}
	return n
}

// TestWritersGolden pins the writers' output for a sample of one small scenario:
// its first records and the first record of every attacker. Rerun with -update when
// a change to the generator or a writer is intended, and read the diff.
func TestWritersGolden(t *testing.T) {
	s := Generate(writeConfig(1), 7)
	sample := slices.Clone(s.Records[:12])
	for i := range s.Attackers {
		for j := range s.Records {
			if s.AttackerOf(j) == i {
				sample = append(sample, s.Records[j])
				break
			}
		}
	}
	for _, w := range writers {
		var buf bytes.Buffer
		// One record per write: the diagnostic file gets one document per line,
		// which keeps the golden file readable.
		for i := range sample {
			if err := w.write(&buf, sample[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join("testdata", w.name+".golden")
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./shared/traffic/trafficsim -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s output differs from %s (rerun with -update once the change is intended)\n--- got\n%s", w.name, path, buf.Bytes())
		}
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errWrite
	}
	return len(p), nil
}

var errWrite = errors.New("disk full")

func TestWritersReportWriteErrors(t *testing.T) {
	s := Generate(writeConfig(0), 3)
	for _, w := range writers {
		for _, after := range []int{0, 100 << 10} {
			if err := w.write(&failingWriter{after: after}, s.Records); !errors.Is(err, errWrite) {
				t.Errorf("%s on a writer failing after %d bytes: %v", w.name, after, err)
			}
		}
	}
}
