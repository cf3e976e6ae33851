package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/apim/include"
	"github.com/apiguard/apiguard/shared/schedule"
	"github.com/apiguard/apiguard/shared/waf"
)

// A redeploy of the customer's own templates (their WAF policy without apiguard's
// rules; their APIM global policy without the include, with a change of their own; the
// fragment deleted) loses what apiguard owns. The next run of the expire timer, one
// schedule period later and long before the block expires, puts back the owned rule,
// the include and the fragment, and keeps everything the redeploy brought. The targets
// are serve's local files, laid out as the policies are in Azure.
func TestRedeployIsRepairedWithinOneTimerPeriod(t *testing.T) {
	dir := t.TempDir()
	wafFile := filepath.Join(dir, "waf", "frontdoor.json")
	apimDir := filepath.Join(dir, "apim")
	globalXML := filepath.Join(apimDir, "global.xml")
	fragmentXML := filepath.Join(apimDir, "fragments", "apiguard-enforce.xml")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(wafFile, fdCustomerPolicy)
	write(globalXML, apimCustomerGlobal)

	c := newClock()
	a, mem, _ := queueApp(t, c, map[string]string{
		"APIGUARD_WAF_TARGETS":             fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, wafFile),
		"APIGUARD_APIM_TARGETS":            fmt.Sprintf(`[{"dir": %q, "enforce": ["block_waf"]}]`, apimDir),
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
	}, 50*time.Millisecond, nil)
	const attacker = "45.153.160.142"
	if status, v := postAlert(t, a, alertFor(1, attacker), nil); status != http.StatusAccepted || v.Incidents[0].Decisions[0].Action != "block_waf" {
		t.Fatalf("%d %+v", status, v)
	}
	mem.Wait()
	owned := func() []string {
		t.Helper()
		doc, err := os.ReadFile(wafFile)
		if err != nil {
			t.Fatal(err)
		}
		d, err := waf.ParseDocument(waf.FrontDoor, doc)
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, r := range d.Owned(waf.Options{Kind: waf.FrontDoor}.WithDefaults()) {
			vs = append(vs, r.Values...)
		}
		return vs
	}
	includes := func() int {
		t.Helper()
		doc, err := os.ReadFile(globalXML)
		if err != nil {
			t.Fatal(err)
		}
		n, err := include.Count(doc, "apiguard-enforce")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	fragmentBlocks := func() bool {
		doc, err := os.ReadFile(fragmentXML)
		return err == nil && bytes.Contains(doc, []byte(attacker))
	}
	if v := owned(); !reflect.DeepEqual(v, []string{attacker}) || includes() != 1 || !fragmentBlocks() {
		t.Fatalf("before the redeploy: owned %v, includes %d, fragment blocks %v", v, includes(), fragmentBlocks())
	}

	// The redeploy: the customer's WAF template as it was, their global policy with a
	// new header of their own and no include, and the fragment gone.
	redeployed := strings.Replace(apimCustomerGlobal, "\t</inbound>",
		"\t\t<set-header name=\"x-release\" exists-action=\"override\"><value>2026.12</value></set-header>\r\n\t</inbound>", 1)
	write(wafFile, fdCustomerPolicy)
	write(globalXML, redeployed)
	if err := os.Remove(fragmentXML); err != nil {
		t.Fatal(err)
	}
	if v := owned(); len(v) != 0 || includes() != 0 || fragmentBlocks() {
		t.Fatalf("the redeploy did not wipe: owned %v, includes %d, fragment %v", v, includes(), fragmentBlocks())
	}

	// One period of the expire timer's schedule later, its run repairs.
	period := timerPeriod(t, "expire", c.now())
	c.add(period)
	timer := []byte(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", timer); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	if v := owned(); !reflect.DeepEqual(v, []string{attacker}) {
		t.Errorf("owned WAF rule after one timer period (%v): %v", period, v)
	}
	if n := includes(); n != 1 {
		t.Errorf("includes in the global policy after one timer period: %d", n)
	}
	if !fragmentBlocks() {
		t.Error("the fragment was not written back with the block")
	}
	// The repair adds what apiguard owns and nothing else: the customer's rules and
	// their new header are kept as the redeploy left them.
	doc, _ := os.ReadFile(wafFile)
	d, err := waf.ParseDocument(waf.FrontDoor, doc)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := waf.ParseDocument(waf.FrontDoor, []byte(fdCustomerPolicy))
	if !sameJSONList(t, d.CustomerRules(), orig.CustomerRules()) {
		t.Errorf("customer rules changed by the repair:\n%s", doc)
	}
	global, _ := os.ReadFile(globalXML)
	back, changed, err := include.Remove(global, "apiguard-enforce")
	if err != nil || !changed || !sameXMLText(string(back), redeployed) {
		t.Errorf("global policy is not the redeployed one plus the include (changed %v, %v):\n%s", changed, err, global)
	}
}

// timerPeriod is the interval between two runs of a timer function from its
// function.json schedule, measured after now.
func timerPeriod(t *testing.T, function string, now time.Time) time.Duration {
	t.Helper()
	var def struct {
		Bindings []struct {
			Type     string `json:"type"`
			Schedule string `json:"schedule"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join("..", "functions", function, "function.json")), &def); err != nil {
		t.Fatal(err)
	}
	for _, b := range def.Bindings {
		if b.Type != "timerTrigger" {
			continue
		}
		s, err := schedule.Parse(b.Schedule)
		if err != nil {
			t.Fatal(err)
		}
		first := s.Next(now)
		return s.Next(first).Sub(first)
	}
	t.Fatalf("%s has no timer trigger", function)
	return 0
}

func sameJSONList(t *testing.T, a, b []json.RawMessage) bool {
	t.Helper()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !jsonSame(t, a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameXMLText compares policy text with line endings normalised: the file backend may
// write the include with the document's own line ending.
func sameXMLText(a, b string) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	return norm(a) == norm(b)
}
