package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/apiguard/apiguard/shared/apim/include"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/azureapim/apimfake"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
)

var apimService = azureapim.Service{Subscription: "00000000-0000-0000-0000-000000000001", ResourceGroup: "rg-api", Name: "apim-contoso"}

// The customer's global policy: CRLF, a comment, a C# expression with && and =>, a
// named value. Only the include may be added to it.
const apimCustomerGlobal = "<!-- contoso global policy -->\r\n<policies>\r\n\t<inbound>\r\n" +
	"\t\t<cors allow-credentials=\"false\"><allowed-origins><origin>*</origin></allowed-origins></cors>\r\n" +
	"\t\t<set-variable name=\"admin\" value=\"@(context.User != null && context.User.Groups.Any(g => g.Name == &quot;admins&quot;))\" />\r\n" +
	"\t\t<set-header name=\"x-env\" exists-action=\"override\"><value>{{environment}}</value></set-header>\r\n" +
	"\t</inbound>\r\n\t<backend>\r\n\t\t<forward-request />\r\n\t</backend>\r\n\t<outbound />\r\n\t<on-error />\r\n</policies>"

// apimApp is an App enforcing block_apim and throttle (and block_waf: no WAF in front)
// into a fake APIM service through the in-process queue.
func apimApp(t *testing.T, c *clock, fake *apimfake.Service, target string) (*env, *queue.Memory, *[]time.Duration) {
	t.Helper()
	var armFor flow.ARMFactory
	if fake != nil {
		armFor = func(id string) (azcore.TokenCredential, *arm.ClientOptions, error) {
			return fake.Credential(), fake.ClientOptions(), nil
		}
	}
	return queueApp(t, c, map[string]string{
		"APIGUARD_APIM_TARGETS":            target,
		"APIGUARD_PLAYBOOK":                "API_AccessFromSuspiciousIP=block_apim",
		"APIGUARD_THROTTLE_CALLS":          "20",
		"APIGUARD_THROTTLE_PERIOD":         "60",
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
	}, 100*time.Millisecond, armFor)
}

func spikeAlert(i int, api string) []byte {
	return []byte(fmt.Sprintf(`{"id":"/subscriptions/s/providers/Microsoft.Security/locations/westeurope/alerts/p%d","name":"p%d",
"properties":{"alertType":"API_PopulationSpikeInAPITraffic","systemAlertId":"spike-%04d","severity":"Medium","startTimeUtc":"2026-11-23T11:00:00Z",
"resourceIdentifiers":[{"type":"AzureResource","azureResourceId":%q}]}}`, i, i, i, api))
}

func fragmentOf(t *testing.T, f *apimfake.Service) string {
	t.Helper()
	doc, _, ok := f.Fragment("apiguard-enforce")
	if !ok {
		t.Fatal("no fragment written")
	}
	return string(doc)
}

func TestAPIMTargetEndToEnd(t *testing.T) {
	fake := apimfake.New(apimService)
	fake.Reserialize(true) // the service stores its own formatting: compare by meaning
	fake.SetPolicy(azureapim.Global, []byte(apimCustomerGlobal))
	fake.AddScope(azureapim.Scope{API: "orders"})
	target := fmt.Sprintf(`[{"id": %q, "scopes": ["global", "apis/orders"]}]`, apimService.String())
	c := newClock()
	a, mem, _ := apimApp(t, c, fake, target)

	// An attacker's address: block_apim into the fragment's ip-filter.
	status, v := postAlert(t, a, alertFor(1, "45.153.160.140"), nil)
	if status != http.StatusAccepted || v.Incidents[0].Decisions[0].Action != "block_apim" {
		t.Fatalf("%d %+v", status, v)
	}
	// An alert naming an API but no attacker: each client of that API is throttled.
	api := apimService.String() + "/apis/orders"
	status, v = postAlert(t, a, spikeAlert(2, api), nil)
	if status != http.StatusAccepted || v.Incidents[0].Decisions[0].Action != "throttle" {
		t.Fatalf("%d %+v", status, v)
	}
	mem.Wait()

	frag := fragmentOf(t, fake)
	for _, want := range []string{"<address>45.153.160.140</address>", "rate-limit-by-key", `calls="20"`, "orders"} {
		if !strings.Contains(frag, want) {
			t.Errorf("fragment lacks %s:\n%s", want, frag)
		}
	}
	global, _, _ := fake.Policy(azureapim.Global)
	back, changed, err := include.Remove(bytes.ReplaceAll(global, []byte("\r\n"), []byte("\n")), "apiguard-enforce")
	if err != nil || !changed || string(back) != strings.ReplaceAll(apimCustomerGlobal, "\r\n", "\n") {
		t.Errorf("global policy is not the customer's plus the include (changed %v, err %v):\n%s", changed, err, global)
	}
	ordersPolicy, _, ok := fake.Policy(azureapim.Scope{API: "orders"})
	if n, err := include.Count(ordersPolicy, "apiguard-enforce"); !ok || err != nil || n != 1 {
		t.Errorf("API policy created with %d includes (%v):\n%s", n, err, ordersPolicy)
	}

	// A repair with nothing new writes nothing, although the service reformatted what
	// we wrote.
	writes := fake.Writes()
	if err := a.flow.RequestRepair(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	mem.Wait()
	if fake.Writes() != writes {
		t.Errorf("repair rewrote unchanged documents: %d writes, then %d", writes, fake.Writes())
	}

	// Someone removes the include: the periodic repair puts it back.
	fake.Mutate(azureapim.Global, func([]byte) []byte { return []byte(apimCustomerGlobal) })
	timer := []byte(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", timer); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	global, _, _ = fake.Policy(azureapim.Global)
	if n, _ := include.Count(global, "apiguard-enforce"); n != 1 {
		t.Errorf("periodic repair did not restore the include:\n%s", global)
	}

	// Everything expires: the fragment is emptied; the includes stay (harmless, and
	// ready for the next block).
	c.add(8 * 24 * time.Hour)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", timer); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	frag = fragmentOf(t, fake)
	if strings.Contains(frag, "45.153.160.140") || strings.Contains(frag, "rate-limit-by-key") {
		t.Errorf("expired entries still enforced:\n%s", frag)
	}
}

// A portal edit of the global policy between our read and our write: the 412 makes
// us re-read, and both the edit and the include survive. A 429 is waited out.
func TestAPIMConflictAndThrottling(t *testing.T) {
	fake := apimfake.New(apimService)
	fake.SetPolicy(azureapim.Global, []byte(apimCustomerGlobal))
	edited := strings.Replace(apimCustomerGlobal, "<outbound />", "<outbound><set-header name=\"x-powered-by\" exists-action=\"delete\" /></outbound>", 1)
	fake.BeforeWrite(azureapim.Global, func([]byte) []byte { return []byte(edited) })
	fake.ThrottleNext(1, 7*time.Second)
	target := fmt.Sprintf(`[{"id": %q}]`, apimService.String())
	a, mem, waits := apimApp(t, newClock(), fake, target)
	if status, _ := postAlert(t, a, alertFor(1, "45.153.160.141"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	global, _, _ := fake.Policy(azureapim.Global)
	back, _, err := include.Remove(global, "apiguard-enforce")
	if err != nil || string(back) != edited {
		t.Errorf("the concurrent edit was lost (%v):\n%s", err, global)
	}
	if fake.Conflicts() == 0 {
		t.Error("no 412 was answered: the test did not exercise the conflict")
	}
	saw7 := false
	for _, w := range *waits {
		saw7 = saw7 || w == 7*time.Second
	}
	if !saw7 {
		t.Errorf("waits %v: the 429's Retry-After of 7s was not honoured", *waits)
	}
	if !strings.Contains(fragmentOf(t, fake), "45.153.160.141") {
		t.Error("block not enforced")
	}
}

// A local directory target (what make run uses): files per scope plus the fragment.
func TestAPIMLocalDirTarget(t *testing.T) {
	dir := t.TempDir()
	target := fmt.Sprintf(`[{"dir": %q, "scopes": ["global", "products/starter"]}]`, dir)
	a, mem, _ := apimApp(t, newClock(), nil, target)
	if status, _ := postAlert(t, a, alertFor(1, "45.153.160.142"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	frag, err := os.ReadFile(filepath.Join(dir, "fragments", "apiguard-enforce.xml"))
	if err != nil || !bytes.Contains(frag, []byte("<address>45.153.160.142</address>")) {
		t.Fatalf("fragment (%v):\n%s", err, frag)
	}
	for _, f := range []string{"global.xml", "products/starter.xml"} {
		doc, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := include.Count(doc, "apiguard-enforce"); n != 1 {
			t.Errorf("%s includes the fragment %d times:\n%s", f, n, doc)
		}
	}
	product, _ := os.ReadFile(filepath.Join(dir, "products", "starter.xml"))
	if !bytes.Equal(product, enforce.DefaultScopePolicy("products/starter", "apiguard-enforce")) {
		t.Errorf("product policy:\n%s", product)
	}
}

// block_waf decisions reach an APIM target only when its enforce list names block_waf.
func TestBlockWAFReachesAPIMOnlyWhenAsked(t *testing.T) {
	for _, c := range []struct {
		enforce string
		want    bool
	}{{`["block_apim","throttle"]`, false}, {`["block_apim","throttle","block_waf"]`, true}} {
		dir := t.TempDir()
		target := fmt.Sprintf(`[{"dir": %q, "enforce": %s}]`, dir, c.enforce)
		var sent []queue.Message
		a, _ := build(t, newClock(), map[string]string{"APIGUARD_APIM_TARGETS": target}, func(d *flow.Deps) {
			d.Queue = senderFunc(func(_ context.Context, m []queue.Message) error { sent = append(sent, m...); return nil })
		})
		if status, v := postAlert(t, a, alertFor(1, "45.153.160.143"), nil); status != http.StatusAccepted || v.Incidents[0].Decisions[0].Action != "block_waf" {
			t.Fatalf("%d %+v", status, v)
		}
		if got := len(sent) == 1 && sent[0].Target == "dir:"+dir; got != c.want {
			t.Errorf("enforce %s: reconcile requests %+v", c.enforce, sent)
		}
	}
}
