package fragment

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/cases/*.golden.* from the current output")

// t0 is the clock of every case: entries say how long they have left ("ttl").
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// caseBlock and caseThrottle are Block and Throttle as a case file writes them.
type caseBlock struct {
	Prefix    string `json:"prefix"` // an address or a CIDR; "" is the invalid zero Prefix
	Severity  int    `json:"severity"`
	TTL       string `json:"ttl"` // remaining time at t0 (default 1h; zero or negative: expired)
	Forwarded bool   `json:"forwarded"`
}

type caseThrottle struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Claim    string `json:"claim"`
	API      string `json:"api"`
	Calls    int    `json:"calls"`
	Period   int    `json:"period"`
	Severity int    `json:"severity"`
	TTL      string `json:"ttl"`
}

func expiry(tb testing.TB, ttl string) time.Time {
	tb.Helper()
	if ttl == "" {
		return t0.Add(time.Hour)
	}
	d, err := time.ParseDuration(ttl)
	if err != nil {
		tb.Fatalf("ttl %q: %v", ttl, err)
	}
	return t0.Add(d)
}

func parsePrefix(tb testing.TB, s string) netip.Prefix {
	tb.Helper()
	if s == "" {
		return netip.Prefix{}
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			tb.Fatalf("prefix %q: %v", s, err)
		}
		return p
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		tb.Fatalf("address %q: %v", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// renderCase is one testdata/cases/<name>.json.
type renderCase struct {
	name      string
	Note      string         `json:"note"`
	Options   Options        `json:"options"` // Now is t0
	Blocks    []caseBlock    `json:"blocks"`
	Throttles []caseThrottle `json:"throttles"`
}

func (c *renderCase) inputs(tb testing.TB) ([]Block, []Throttle, Options) {
	bs := make([]Block, len(c.Blocks))
	for i, b := range c.Blocks {
		bs[i] = Block{Prefix: parsePrefix(tb, b.Prefix), Severity: b.Severity, Expires: expiry(tb, b.TTL), Forwarded: b.Forwarded}
	}
	ts := make([]Throttle, len(c.Throttles))
	for i, t := range c.Throttles {
		ts[i] = Throttle{Key: KeyKind(t.Key), Value: t.Value, Claim: t.Claim, API: t.API, Calls: t.Calls,
			Period: t.Period, Severity: t.Severity, Expires: expiry(tb, t.TTL)}
	}
	o := c.Options
	o.Now = t0
	return bs, ts, o
}

func loadCases(tb testing.TB) []*renderCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []*renderCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		c := &renderCase{name: strings.TrimSuffix(filepath.Base(p), ".json")}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		tb.Fatal("no cases in testdata/cases")
	}
	return out
}

// summary is the golden record of a Result without its XML.
type summary struct {
	Size      int        `json:"size"`
	Blocks    int        `json:"blocks"`
	Forwarded int        `json:"forwarded"`
	Throttles int        `json:"throttles"`
	Expired   int        `json:"expired"`
	Evicted   []Eviction `json:"evicted"`
	Skipped   []Skip     `json:"skipped"`
}

// TestCases renders every case and compares the fragment and the summary with the
// goldens (go test ./shared/apim/fragment -update rewrites them; read the diff).
func TestCases(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			bs, ts, o := c.inputs(t)
			res, err := Render(bs, ts, o)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, o)
			sum, err := json.MarshalIndent(summary{res.Size, res.Blocks, res.Forwarded, res.Throttles, res.Expired,
				res.Evicted, res.Skipped}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			sum = append(sum, '\n')
			base := filepath.Join("testdata", "cases", c.name)
			golden(t, base+".golden.xml", res.XML)
			golden(t, base+".golden.json", sum)
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update and read the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// checkResult holds for every Render result: well-formed XML under <fragment>, no
// larger than the limit, counts that match the elements, distinct counter keys.
func checkResult(tb testing.TB, res Result, o Options) {
	tb.Helper()
	max := o.MaxBytes
	if max == 0 {
		max = DefaultMaxBytes
	}
	if res.Size != len(res.XML) || res.Size > max {
		tb.Fatalf("size %d, len %d, limit %d", res.Size, len(res.XML), max)
	}
	for i, c := range res.XML {
		if c >= 0x80 || c < 0x20 && c != '\n' && c != '\t' {
			tb.Fatalf("byte %#x at %d: the fragment must be printable ASCII", c, i)
		}
	}
	if bytes.Contains(res.XML, []byte("{{")) {
		tb.Fatalf("the fragment contains {{, which APIM reads as a named value:\n%s", res.XML)
	}
	els := elements(tb, res.XML)
	if len(els) == 0 || els[0].name != "fragment" || els[0].depth != 0 {
		tb.Fatalf("root is not <fragment>:\n%s", res.XML)
	}
	count := map[string]int{}
	keys := map[string]bool{}
	for _, e := range els {
		count[e.name]++
		if e.name == "rate-limit-by-key" {
			k := e.attrs["counter-key"]
			if keys[k] {
				tb.Fatalf("counter key %q written twice", k)
			}
			keys[k] = true
		}
	}
	if n := count["address"] + count["address-range"]; n != res.Blocks {
		tb.Fatalf("%d ip-filter entries, Result.Blocks %d", n, res.Blocks)
	}
	if count["ip-filter"] != min(res.Blocks, 1) {
		tb.Fatalf("%d ip-filter elements for %d blocks (it needs a child, and one is enough)", count["ip-filter"], res.Blocks)
	}
	if count["rate-limit-by-key"] != res.Throttles {
		tb.Fatalf("%d rate-limit-by-key, Result.Throttles %d", count["rate-limit-by-key"], res.Throttles)
	}
	if (count["return-response"] > 0) != (res.Forwarded > 0) {
		tb.Fatalf("%d return-response for %d forwarded blocks", count["return-response"], res.Forwarded)
	}
}

// element is one start tag of a fragment.
type element struct {
	name   string
	depth  int
	parent string
	attrs  map[string]string
}

// elements decodes every token of doc with encoding/xml in strict mode and returns the
// elements in document order.
func elements(tb testing.TB, doc []byte) []element {
	tb.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var out []element
	var stack []string
	roots := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
			}
			e := element{name: tok.Name.Local, depth: len(stack), attrs: map[string]string{}}
			if tok.Name.Space != "" {
				tb.Fatalf("namespaced element %v", tok.Name)
			}
			if len(stack) > 0 {
				e.parent = stack[len(stack)-1]
			}
			for _, a := range tok.Attr {
				if _, dup := e.attrs[a.Name.Local]; dup {
					tb.Fatalf("attribute %s twice on %s", a.Name.Local, e.name)
				}
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, e.name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(tok)) > 0 {
				tb.Fatalf("text outside the root: %q", tok)
			}
		case xml.ProcInst, xml.Directive:
			tb.Fatalf("unexpected %T in the fragment", tok)
		}
	}
	if roots != 1 {
		tb.Fatalf("%d root elements", roots)
	}
	return out
}
