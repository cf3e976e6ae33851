package traffic

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

// filledRecord sets every field of a Record to a value of its kind that is not the
// zero value, so a field the spill codec does not carry shows up as a difference. A
// field of a kind it does not know fails the test: the codec must learn it first.
func filledRecord(tb testing.TB, seed int) Record {
	tb.Helper()
	var r Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2026, 3, 1, 9, 0, seed%60, 123456789, time.UTC)))
		case netip.Addr:
			f.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + seed)})))
		case time.Duration:
			f.SetInt(int64(1500*time.Microsecond) + int64(seed))
		case string:
			f.SetString(fmt.Sprintf("%s-%d-é", name, seed))
		case int, int64:
			f.SetInt(int64(100*i + seed))
		case bool:
			f.SetBool(true)
		default:
			tb.Fatalf("Record.%s is a %s, which the spill codec does not carry: teach spill.go", name, f.Type())
		}
	}
	return r
}

func roundTrip(tb testing.TB, recs ...Record) []Record {
	tb.Helper()
	var frames, body []byte
	for i := range recs {
		frames, body = appendRecord(frames, body, &recs[i])
	}
	br := bufio.NewReader(bytes.NewReader(frames))
	var buf []byte
	var out []Record
	for {
		r, err := readRecord(br, &buf)
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			tb.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestSpillCodecCoversRecord(t *testing.T) {
	full := filledRecord(t, 7)
	shared := filledRecord(t, 8)
	shared.Template = shared.Path
	v6 := Record{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		Client: netip.MustParseAddr("2001:db8::1"), Peer: netip.MustParseAddr("fe80::1%eth0"), Status: -1, Latency: -time.Second}
	empty := Record{Time: time.Unix(0, 0).UTC()}
	in := []Record{full, shared, v6, empty}
	if got := roundTrip(t, in...); !reflect.DeepEqual(got, in) {
		t.Errorf("round trip changed records\n got %+v\nwant %+v", got, in)
	}
}

// A damaged or cut run file is an error, never a panic or a made-up record.
func TestSpillCodecRefusesDamage(t *testing.T) {
	var frames, body []byte
	r := filledRecord(t, 1)
	frames, _ = appendRecord(frames, body, &r)
	for name, b := range map[string][]byte{
		"cut":          frames[:len(frames)-3],
		"huge length":  {0xff, 0xff, 0xff, 0xff, 0x7f},
		"lying length": append([]byte{2}, frames[1:]...),
		"garbage":      bytes.Repeat([]byte{0x80}, 40),
	} {
		var buf []byte
		if got, err := readRecord(bufio.NewReader(bytes.NewReader(b)), &buf); err == nil {
			t.Errorf("%s: read %+v without an error", name, got)
		}
	}
}

// FuzzReadRecord: any bytes read as a run file give records or an error, never a
// panic; what was written reads back the same.
func FuzzReadRecord(f *testing.F) {
	var frames, body []byte
	for i := range 3 {
		r := filledRecord(f, i)
		frames, body = appendRecord(frames, body, &r)
	}
	f.Add(frames)
	f.Add([]byte{0x05, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		for range 100 {
			r, err := readRecord(br, &buf)
			if err != nil {
				return
			}
			if again := roundTrip(t, r); !reflect.DeepEqual(again, []Record{r}) {
				t.Fatalf("a record read back does not survive a round trip: %+v", r)
			}
		}
	})
}

// sortInput makes n records whose times come in shuffled blocks with many ties; seq
// in Path tells records with equal times apart.
func sortInput(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]Record, n)
	for i := range recs {
		sec := i / 3 // three records a second: ties
		if rng.IntN(10) == 0 {
			sec = rng.IntN(n / 3) // and some far out of order
		}
		recs[i] = Record{Time: base.Add(time.Duration(sec) * time.Second), Client: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
			Method: "GET", Path: fmt.Sprintf("/items/%d", i), Template: "/items/{id}", Status: 200, UserAgent: "agent"}
	}
	for b := 0; b+50 <= n; b += 50 { // shuffle blocks of 50
		j := rng.IntN(n/50) * 50
		for k := range 50 {
			recs[b+k], recs[j+k] = recs[j+k], recs[b+k]
		}
	}
	return recs
}

func TestSorter(t *testing.T) {
	in := sortInput(20000, 1)
	want := slices.Clone(in)
	slices.SortStableFunc(want, func(a, b Record) int { return a.Time.Compare(b.Time) })
	for _, c := range []struct {
		name        string
		memory      int // 0: the default
		fanIn       int
		runs, merge bool
	}{
		{"in memory", 0, maxFanIn, false, false},
		{"spilled runs, one merge", 200 << 10, maxFanIn, true, false},
		{"more runs than the fan-in: merge passes", 64 << 10, 3, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := NewSorter(SortOptions{Dir: dir})
			if c.memory > 0 {
				s.opts.MemoryBytes = c.memory // under the 1 MiB floor, to get many runs
			}
			s.fanIn = c.fanIn
			defer s.Close()
			for _, r := range in {
				if err := s.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Sorted(); err != nil {
				t.Fatal(err)
			}
			var got []Record
			for r, ok := s.Next(); ok; r, ok = s.Next() {
				got = append(got, r)
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("%d records, want %d; first difference at %d: %v %s, want %v %s",
							len(got), len(want), i, got[i].Time, got[i].Path, want[i].Time, want[i].Path)
					}
				}
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			st := s.Stats()
			if st.Records != len(in) || (st.Runs > 0) != c.runs || (st.MergePasses > 0) != c.merge || (st.SpilledBytes > 0) != c.runs {
				t.Errorf("stats %+v", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("run files left behind: %v", left)
			}
		})
	}
}

// The sorter's memory estimate tracks what a decoded record holds.
func TestRecordSize(t *testing.T) {
	b := mustDecode(t, `203.0.113.5 - - [01/Jan/2024:00:00:00 +0000] "GET /a/123 HTTP/1.1" 200 1 "-" "curl/8"`, Options{})
	r := b.Records[0]
	if got, want := recordSize(&r), recordStructSize+len("GET/a/123/a/{id}curl/8"); got != want {
		t.Errorf("recordSize = %d, want %d", got, want)
	}
}

func BenchmarkSorter(b *testing.B) {
	in := sortInput(100000, 2)
	total := 0
	for i := range in {
		total += recordSize(&in[i])
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		s := NewSorter(SortOptions{MemoryBytes: minSortMemory, Dir: b.TempDir()})
		for _, r := range in {
			if err := s.Add(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Sorted(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, ok := s.Next(); ok; _, ok = s.Next() {
			n++
		}
		if n != len(in) || s.Err() != nil {
			b.Fatal(n, s.Err())
		}
		s.Close()
	}
	b.ReportMetric(float64(len(in))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
