package trafficsim

import (
	"bytes"
	"io"
	"testing"

	"github.com/apiguard/apiguard/shared/traffic"
)

// What a writer writes decodes back to the records it was given: every field the
// format carries, with the client attributed through the scenario's proxies.
func TestWritersRoundTripThroughTheScanner(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Clients, cfg.NATUsers, cfg.ProxyUsers, cfg.BlogReaders = 60, 20, 5, 10
	cfg.EdgeProxy = 1 // an Application Gateway in front: the client comes from X-Forwarded-For
	s := Generate(cfg, 3)
	var recs []traffic.Record
	for _, r := range s.Records {
		if !r.Malformed {
			recs = append(recs, r)
		}
	}
	if len(recs) < 1000 || len(s.Proxies) == 0 {
		t.Fatalf("scenario too small to say anything: %d records, proxies %v", len(recs), s.Proxies)
	}
	cases := []struct {
		name   string
		format traffic.Format
		write  func(io.Writer, []traffic.Record) error
	}{
		{"apim-loganalytics", traffic.FormatAPIMLogAnalytics, WriteAPIMLogAnalytics},
		{"apim-diagnostic", traffic.FormatAPIMDiagnostic, WriteAPIMDiagnostic},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.write(&buf, recs); err != nil {
				t.Fatal(err)
			}
			// Auto-detection too: the written file is recognised as its format.
			sc := traffic.NewScanner(&buf, traffic.Options{Trust: traffic.Trust{Proxies: s.Proxies}})
			i := 0
			for got, ok := sc.Next(); ok; got, ok = sc.Next() {
				if i >= len(recs) {
					t.Fatalf("more records decoded than written")
				}
				want := recs[i]
				want.Malformed, want.Note = false, ""
				if got != want {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want)
				}
				i++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if _, setAside, _ := sc.Counts(); i != len(recs) || setAside != 0 || sc.Format() != c.format {
				t.Errorf("%d of %d records decoded, %d set aside, format %s", i, len(recs), setAside, sc.Format())
			}
		})
	}
}
