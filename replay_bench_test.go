package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/detect/probe"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/traffic/trafficsim"
)

// The end-to-end speed of `apiguard replay`, side by side with the plain
// encoding/json decode a developer would write for the same file (issue 12: replay at
// least 3x that decode, one core). Run with
//
//	go test -run '^$' -bench ReplayLogAnalytics -benchmem -cpu 1 -count 5 .
//
// Both sub-benchmarks read the same file, alternating under -count; a third times the
// probe matcher alone over the same rows (replay includes it).

const (
	// benchRows is the size of the export the issue measured (61,608 rows).
	benchRows = 61_608
	// benchSeed picks a scenario with an Application Gateway in front (so clients are
	// attributed through X-Forwarded-For) and attackers inside the export's first
	// half hour: a flood, a rotating user agent and exfiltration.
	benchSeed = 7
)

// writeExport writes the first benchRows requests of a generated two-hour scenario
// (DefaultConfig: 1,500 ordinary clients, a NAT, crawlers, integrations, monitors,
// a WordPress section, seven attackers) as a Log Analytics export of
// ApiManagementGatewayLogs, one row per line: about the first half hour, as an
// export of a time range is. It returns the trusted proxies to replay it with.
func writeExport(b *testing.B, path string) (proxies string, attackers int) {
	b.Helper()
	s := trafficsim.Generate(trafficsim.DefaultConfig(), benchSeed)
	recs := s.Records[:min(benchRows, len(s.Records))]
	for i := range recs {
		if s.AttackerOf(i) >= 0 {
			attackers++
		}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := trafficsim.WriteAPIMLogAnalytics(f, recs); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	var p []string
	for _, x := range s.Proxies {
		p = append(p, x.String())
	}
	return strings.Join(p, ","), attackers
}

// analyticsRow is the baseline's struct: the columns replay reads, as a developer
// would declare them for encoding/json.
type analyticsRow struct {
	TimeGenerated      time.Time
	CallerIpAddress    string
	Method             string
	Url                string
	ResponseCode       int
	RequestSize        int64
	ResponseSize       int64
	TotalTime          int64
	ClientTime         int64
	BackendTime        int64
	ApiId              string
	OperationId        string
	UserId             string
	ApimSubscriptionId string
	RequestHeaders     struct {
		UserAgent     string `json:"User-Agent"`
		Host          string
		XForwardedFor string `json:"X-Forwarded-For"`
	}
}

func BenchmarkReplayLogAnalytics(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ApiManagementGatewayLogs.json")
	proxies, attackers := writeExport(b, path)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC() // the generator's garbage is not the benchmarks' to collect

	b.Run("replay", func(b *testing.B) {
		args := []string{"replay", "--progress", "0", "--trusted-proxies", proxies, path}
		var out counter
		var summary bytes.Buffer
		b.SetBytes(st.Size())
		b.ReportAllocs()
		cpu := cpuMeter(b)
		for b.Loop() {
			summary.Reset()
			if code := run(args, nil, &out, &summary); code != 0 {
				b.Fatalf("replay exit %d: %s", code, summary.String())
			}
		}
		if want := fmt.Sprintf("replay: %d records in ", benchRows); !strings.HasPrefix(summary.String(), want) {
			b.Fatalf("summary %q, want %q...", summary.String(), want)
		}
		cpu()
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(out.lines)/float64(b.N), "findings")
		b.ReportMetric(float64(attackers), "attacker-rows")
	})

	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(st.Size())
		b.ReportAllocs()
		cpu := cpuMeter(b)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			dec := json.NewDecoder(f)
			for {
				var row analyticsRow
				if err := dec.Decode(&row); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				n++
			}
			f.Close()
			if n != benchRows {
				b.Fatalf("%d rows, want %d", n, benchRows)
			}
		}
		cpu()
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})

	// What the probe matcher alone costs on these rows (path, query and user agent of
	// every request): the probing detector runs it inside replay, this shows its share.
	b.Run("probe-match", func(b *testing.B) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var recs []traffic.Record
		sc := traffic.NewScanner(f, traffic.Options{})
		for r, ok := sc.Next(); ok; r, ok = sc.Next() {
			recs = append(recs, r)
		}
		if err := sc.Err(); err != nil || len(recs) != benchRows {
			b.Fatalf("%d rows decoded, want %d: %v", len(recs), benchRows, err)
		}
		m := probe.Default()
		var h probe.Hits
		hits := 0
		b.ResetTimer()
		cpu := cpuMeter(b)
		for b.Loop() {
			hits = 0
			for i := range recs {
				m.Match(recs[i].Path, recs[i].Query, recs[i].UserAgent, &h)
				hits += h.Len()
			}
		}
		cpu()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/row")
		b.ReportMetric(float64(hits), "hits")
	})
}

// cpuMeter starts measuring the process's CPU time; the function it returns reports
// it per op as cpu-ns/op. With -cpu 1 that is the work done, less disturbed by other
// processes on a shared machine than ns/op (wall time).
func cpuMeter(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// counter counts the lines written to it (one finding a line).
type counter struct{ lines int }

func (c *counter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
