package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/traffic"
)

// fixtureDir holds public access logs outside the repository (see
// ../shared/fixtures/README.md); the tests skip when it is absent.
const fixtureDir = "../../../../shared/fixtures/traffic"

func readFixture(t *testing.T, rel string) []traffic.Record {
	t.Helper()
	p := filepath.Join(fixtureDir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("traffic fixtures not available at %s: %v", p, err)
	}
	b, err := traffic.Decode(data, traffic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b.Records
}

// weakClasses may hit the background log: it holds real WordPress and Joomla login
// probes from bots (/wp-login.php, /wp-admin/, /administrator/), the kind of request
// the admin class exists for. Every other class would be a false positive on
// ordinary traffic.
var weakClasses = ClassSet(1 << ClassAdmin)

// TestBackgroundLog runs the default data over 10,000 real Apache requests (Elastic's
// apache_logs, May 2015: a personal site with crawlers, feed readers and a few
// WordPress probes). No strong class may hit, and no client may come near a
// detector's threshold (see README.md: a total distinct weight of 10).
func TestBackgroundLog(t *testing.T) {
	recs := readFixture(t, "background/apache_logs")
	m := Default()
	var h Hits
	perPattern := map[string]int{}
	perClient := map[string]map[uint16]uint8{}
	hitReqs := 0
	for _, r := range recs {
		m.Match(r.Path, r.Query, r.UserAgent, &h)
		if h.Len() == 0 {
			continue
		}
		hitReqs++
		if strong := h.Classes() &^ weakClasses; strong != 0 {
			t.Errorf("ordinary request hits %v: %s %s?%s %q", strong, r.Method, r.Path, r.Query, r.UserAgent)
		}
		c := r.Client.String()
		if perClient[c] == nil {
			perClient[c] = map[uint16]uint8{}
		}
		for _, x := range h.All() {
			perPattern[m.Pattern(x.Pattern).Class.Name()+":"+m.Pattern(x.Pattern).Text]++
			perClient[c][x.Pattern] = x.Weight
		}
	}
	if len(recs) < 9900 {
		t.Fatalf("decoded %d records, want the whole log", len(recs))
	}
	t.Logf("%d of %d requests hit (%.2f%%) from %d clients", hitReqs, len(recs), 100*float64(hitReqs)/float64(len(recs)), len(perClient))
	t.Logf("per pattern: %s", countList(perPattern))
	top := 0
	for c, pats := range perClient {
		w := 0
		for _, x := range pats {
			w += int(x)
		}
		top = max(top, w)
		if w >= 10 {
			t.Errorf("client %s reaches a distinct weight of %d over the whole log", c, w)
		}
	}
	t.Logf("highest distinct weight of one client over the whole log: %d", top)
}

// TestCrowdSecCases reads CrowdSec's hub test logs: the probing case (a Nikto
// remote-inclusion sweep, 77 requests without a user agent) and the access-log
// parser cases, which hold a masscan request. Reported: what hits. Checked: the
// masscan user agent.
func TestCrowdSecCases(t *testing.T) {
	m := Default()
	var h Hits
	for _, rel := range []string{"crowdsec/apache-http-probing/apache-http-probing.log", "crowdsec/apache2-logs/apache2-logs.log"} {
		recs := readFixture(t, rel)
		perPattern := map[string]int{}
		hitReqs := 0
		masscan := false
		for _, r := range recs {
			m.Match(r.Path, r.Query, r.UserAgent, &h)
			if h.Len() > 0 {
				hitReqs++
			}
			for _, x := range h.All() {
				p := m.Pattern(x.Pattern)
				perPattern[p.Class.Name()+":"+p.Text]++
				if p.Text == "masscan" {
					masscan = true
				}
			}
			if strings.Contains(strings.ToLower(r.UserAgent), "masscan") && !h.Classes().Has(ClassScanner) {
				t.Errorf("%s: masscan's user agent %q does not hit", rel, r.UserAgent)
			}
		}
		if strings.HasPrefix(rel, "crowdsec/apache2-logs") && !masscan {
			t.Errorf("%s: no masscan hit", rel)
		}
		t.Logf("%s: %d of %d requests hit; %s", rel, hitReqs, len(recs), countList(perPattern))
	}
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}
