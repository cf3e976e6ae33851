package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const trafficFixtures = "../shared/fixtures/traffic"

type replayed struct {
	Detector string `json:"detector"`
	KeyType  string `json:"key_type"`
	Key      string `json:"key"`
	Reason   string `json:"reason"`
}

func replayFiles(t *testing.T, args ...string) ([]replayed, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"replay", "--progress", "0"}, args...), nil, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	var fs []replayed
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f replayed
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		fs = append(fs, f)
	}
	return fs, errOut.String()
}

// The labelled CrowdSec cases are found, with the attacking address the case names.
func TestReplayFindsLabelledAttacks(t *testing.T) {
	if _, err := os.Stat(trafficFixtures); err != nil {
		t.Skip("../shared/fixtures/traffic is absent: labelled traffic cases not run")
	}
	cases := []struct {
		dir, detector, addr string
	}{
		{"crowdsec/apache-http-probing", "probing", "172.17.0.1"},
		{"crowdsec/http-bf-wordpress-bf", "brute_force", "81.150.104.130"},
		{"crowdsec/http-wordpress_user-enum", "enumeration", "1.2.3.4"},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			logs, _ := filepath.Glob(filepath.Join(trafficFixtures, c.dir, "*.log"))
			if len(logs) == 0 {
				t.Fatalf("no log in %s", c.dir)
			}
			fs, summary := replayFiles(t, logs...)
			found := false
			for _, f := range fs {
				if f.KeyType == "ip" && f.Key == c.addr && f.Detector == c.detector {
					found = true
				} else {
					t.Errorf("unexpected finding: %+v", f)
				}
			}
			if !found {
				t.Errorf("%s of %s not found; summary:\n%s", c.detector, c.addr, summary)
			}
		})
	}
}

var crawlerAgent = regexp.MustCompile(`(?i)bot|crawl|spider|slurp`)

// The background log (real traffic with crawlers, a 39 MiB file downloaded by many
// clients) is clean: no finding at all, a crawler's named as such.
func TestReplayBackgroundFlagsNoCrawler(t *testing.T) {
	path := filepath.Join(trafficFixtures, "background", "apache_logs")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skip("../shared/fixtures/traffic/background is absent: background replay not run")
	}
	crawlers := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		if crawlerAgent.MatchString(line) {
			crawlers[strings.Fields(line)[0]] = true
		}
	}
	fs, summary := replayFiles(t, path)
	t.Logf("background: %d findings\n%s", len(fs), summary)
	for _, f := range fs {
		if crawlers[f.Key] {
			t.Errorf("a crawler was flagged: %s %s: %s", f.Detector, f.Key, f.Reason)
		} else {
			t.Errorf("finding on background traffic: %s %s %s: %s", f.Detector, f.KeyType, f.Key, f.Reason)
		}
	}
}

// Same input, same output.
func TestReplayIsDeterministic(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(trafficFixtures, "crowdsec", "*", "*.log"))
	if len(logs) == 0 {
		t.Skip("../shared/fixtures/traffic is absent")
	}
	args := append([]string{"replay", "--progress", "0", "--decide"}, logs...)
	var a, b, e bytes.Buffer
	if run(args, nil, &a, &e) != 0 || run(args, nil, &b, &e) != 0 {
		t.Fatal(e.String())
	}
	if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two replays of the same files differ (or found nothing):\n%s\n%s", a.String(), b.String())
	}
}

// A generated flood, self-contained: the output lines carry the documented fields, and
// --decide adds the playbook's decisions.
func TestReplayOutputShape(t *testing.T) {
	var log strings.Builder
	for i := range 250 { // one a second from 10:00:00: over the flood limit of 200 in the first window
		log.WriteString("45.153.160.77 - - [23/Nov/2026:10:0" + string(rune('0'+i/60)) + ":" + twoDigits(i%60) +
			" +0000] \"GET /api/orders HTTP/1.1\" 200 512 \"-\" \"python-requests/2.31\"\n")
	}
	path := filepath.Join(t.TempDir(), "flood.log")
	if err := os.WriteFile(path, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"replay", "--progress", "0", "--decide", path}, nil, &out, &errOut); code != 0 {
		t.Fatal(errOut.String())
	}
	var line map[string]any
	first, _, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	if err := json.Unmarshal(first, &line); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	for _, k := range []string{"detector", "key_type", "key", "window_start", "window_end", "evidence", "decisions"} {
		if _, ok := line[k]; !ok {
			t.Errorf("finding lacks %q: %s", k, first)
		}
	}
	if line["detector"] != "flood" || line["key"] != "45.153.160.77" {
		t.Errorf("finding %s", first)
	}
	if !strings.Contains(errOut.String(), "flood") || !strings.Contains(errOut.String(), "records/s") {
		t.Errorf("summary: %s", errOut.String())
	}
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// A bad threshold file is refused with every problem named, before anything is read.
func TestReplayRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{`{"flood": {"limit": 0}, "probing": {"min_error_share": 2}}`, "flood.limit"},
		{`{"flod": {}}`, "flod"},
	} {
		path := filepath.Join(dir, "thresholds.json")
		if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"replay", "--config", path, "missing.log"}, nil, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%s: exit %d, %s", c.body, code, errOut.String())
		}
	}
}

// A file out of event-time order: the summary counts the records that came after
// their window had closed, and --sort replays it exactly as the same records in order.
func TestReplaySortsOutOfOrderFiles(t *testing.T) {
	raw, err := os.ReadFile("docs/examples/access-probing.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	later := make([]string, len(lines))
	for i, l := range lines { // the same requests an hour later
		later[i] = strings.Replace(l, "23/Nov/2026:10:", "23/Nov/2026:11:", 1)
	}
	dir := t.TempDir()
	inOrder := filepath.Join(dir, "in-order.log")
	shuffled := filepath.Join(dir, "shuffled.log")
	if err := os.WriteFile(inOrder, []byte(strings.Join(append(append([]string{}, lines...), later...), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shuffled, []byte(strings.Join(append(append([]string{}, later...), lines...), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, sum := replayFiles(t, inOrder)
	if !strings.Contains(sum, " 0 late,") || len(want) == 0 {
		t.Fatalf("in order: %d findings, summary %q", len(want), sum)
	}
	_, sum = replayFiles(t, shuffled)
	if !strings.Contains(sum, fmt.Sprintf(" %d late,", len(lines))) || !strings.Contains(sum, "use --sort") {
		t.Errorf("out of order: the %d earlier records are not counted late: %q", len(lines), sum)
	}
	got, sum := replayFiles(t, "--sort", "--sort-memory", "1", shuffled)
	if !strings.Contains(sum, " 0 late,") || !strings.Contains(sum, fmt.Sprintf("sorted %d records", 2*len(lines))) {
		t.Errorf("--sort: %q", sum)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("--sort found\n%v\nin order found\n%v", got, want)
	}
}
