package traffic

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir holds public access logs: CrowdSec's hub test logs and Elastic's
// apache_logs sample. They live outside the repository and are read only; the test
// skips when they are not there.
const fixtureDir = "../../../shared/fixtures/traffic"

// TestFixtures decodes every public log with detection on and requires that at least
// 99% of their non-blank lines become records. What is set aside is logged: error-log
// lines mixed into access logs, and the binary junk of nginx-http-malformed.
func TestFixtures(t *testing.T) {
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("traffic fixtures not available at %s: %v", fixtureDir, err)
	}
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "crowdsec", "*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(fixtureDir, "background", "apache_logs"))
	var lines, records int
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range bytes.Split(data, newline) {
			if !isBlank(l) {
				n++
			}
		}
		b, err := Decode(data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		checkBatch(t, b)
		if b.Format != FormatCombined {
			t.Errorf("%s: detected %q", p, b.Format)
		}
		if got := len(b.Records) + len(b.SetAside); got != n {
			t.Errorf("%s: %d lines but %d items", p, n, got)
		}
		rel, _ := filepath.Rel(fixtureDir, p)
		t.Logf("%-55s %5d lines %5d records %3d set aside", rel, n, len(b.Records), len(b.SetAside))
		for _, s := range b.SetAside {
			t.Logf("    line %d: %s", s.Line, s.Reason)
		}
		s, err := scanAll(bytes.NewReader(data), Options{})
		if err != nil || len(s.Records) != len(b.Records) || len(s.SetAside) != len(b.SetAside) {
			t.Errorf("%s: Scanner %d records %d set aside (%v), Decode %d %d", p, len(s.Records), len(s.SetAside), err, len(b.Records), len(b.SetAside))
		}
		lines += n
		records += len(b.Records)
	}
	t.Logf("total: %d lines, %d records (%.2f%%)", lines, records, 100*float64(records)/float64(lines))
	if records*100 < lines*99 {
		t.Errorf("only %d of %d lines decoded, want 99%%", records, lines)
	}
}

// TestMalformedFixture: every line of CrowdSec's nginx-http-malformed case (binary
// protocols, TLS handshakes, "HELP", "batman" sent to nginx, logged with 400) counts
// for its client as a malformed request and none becomes an operation.
func TestMalformedFixture(t *testing.T) {
	path := filepath.Join(fixtureDir, "crowdsec", "nginx-http-malformed", "nginx_http-logs.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("traffic fixture not available: %v", err)
	}
	b, err := Decode(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, b)
	if len(b.SetAside) != 0 || len(b.Records) == 0 {
		t.Fatalf("%d records, set aside %+v", len(b.Records), b.SetAside)
	}
	for i, r := range b.Records {
		if !r.Malformed || r.Client.String() != "1.2.3.4" || r.Status != 400 || r.Template != "" || r.Path != "" {
			t.Errorf("record %d: malformed %v client %v status %d path %q template %q", i, r.Malformed, r.Client, r.Status, r.Path, r.Template)
		}
	}
}
