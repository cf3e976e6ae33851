package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/apiguard/apiguard/shared/enforce/azure/armfake"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/waf"
)

const fdID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/edgepolicy"
const agwID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/agwpolicy"

// A Front Door policy as a customer has it: two rules of their own and managed rules.
const fdCustomerPolicy = `{
  "location": "Global",
  "sku": {"name": "Premium_AzureFrontDoor"},
  "properties": {
    "policySettings": {"enabledState": "Enabled", "mode": "Prevention"},
    "customRules": {"rules": [
      {"name": "AllowOffice", "priority": 10, "enabledState": "Enabled", "ruleType": "MatchRule", "action": "Allow",
       "matchConditions": [{"matchVariable": "SocketAddr", "operator": "IPMatch", "negateCondition": false, "matchValue": ["198.51.100.0/24"]}]},
      {"name": "RateLimitLogin", "priority": 20, "enabledState": "Enabled", "ruleType": "RateLimitRule", "rateLimitDurationInMinutes": 1,
       "rateLimitThreshold": 100, "action": "Block",
       "matchConditions": [{"matchVariable": "RequestUri", "operator": "Contains", "negateCondition": false, "matchValue": ["/login"]}]}
    ]},
    "managedRules": {"managedRuleSets": [{"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.1", "ruleSetAction": "Block"}]}
  }
}`

const agwCustomerPolicy = `{
  "location": "westeurope",
  "properties": {
    "policySettings": {"state": "Enabled", "mode": "Prevention", "requestBodyCheck": true},
    "customRules": [
      {"name": "BlockBadBots", "priority": 5, "ruleType": "MatchRule", "state": "Enabled", "action": "Block",
       "matchConditions": [{"matchVariables": [{"variableName": "RequestHeaders", "selector": "User-Agent"}], "operator": "Contains",
         "negationConditon": false, "matchValues": ["evilbot"], "transforms": ["Lowercase"]}]}
    ],
    "managedRules": {"managedRuleSets": [{"ruleSetType": "OWASP", "ruleSetVersion": "3.2"}]}
  }
}`

func fakeFrontDoor(t *testing.T) *armfake.Service {
	t.Helper()
	var p armfrontdoor.WebApplicationFirewallPolicy
	if err := json.Unmarshal([]byte(fdCustomerPolicy), &p); err != nil {
		t.Fatal(err)
	}
	return armfake.NewFrontDoor(fdID, p)
}

func fakeAppGW(t *testing.T) *armfake.Service {
	t.Helper()
	var p armnetwork.WebApplicationFirewallPolicy
	if err := json.Unmarshal([]byte(agwCustomerPolicy), &p); err != nil {
		t.Fatal(err)
	}
	return armfake.NewAppGW(agwID, p)
}

// wafApp is an App enforcing into the given fake policies through the in-process queue
// (serve's one writer per policy), with waits recorded instead of slept.
func wafApp(t *testing.T, c *clock, fakes ...*armfake.Service) (*env, *queue.Memory, *[]time.Duration) {
	t.Helper()
	var targets []string
	byID := map[string]*armfake.Service{}
	for _, f := range fakes {
		targets = append(targets, fmt.Sprintf(`{"id": %q}`, f.ID()))
		byID[f.ID()] = f
	}
	return queueApp(t, c, map[string]string{
		"APIGUARD_WAF_TARGETS":             "[" + strings.Join(targets, ",") + "]",
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
	}, 250*time.Millisecond, func(id string) (azcore.TokenCredential, *arm.ClientOptions, error) {
		f := byID[id]
		return f.Credential(), f.ClientOptions(), nil
	})
}

// queueApp is a test App whose reconcile requests go through serve's in-process queue
// (one worker per target, settling for settle), with retry waits recorded, not slept.
func queueApp(t *testing.T, c *clock, settings map[string]string, settle time.Duration, armFor flow.ARMFactory) (*env, *queue.Memory, *[]time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var waits []time.Duration
	var a *env
	mem := queue.NewMemory(t.Context(), settle, func(ctx context.Context, target string, _ []queue.Message) error {
		_, err := a.flow.Reconcile(ctx, a.Log, target)
		return err
	}, func(target string, err error) { t.Errorf("reconcile %s: %v", target, err) })
	a, _ = build(t, c, settings, func(d *flow.Deps) {
		d.Queue, d.ARM = mem, armFor
		d.Sleep = func(_ context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return nil
		}
	})
	return a, mem, &waits
}

func alertFor(i int, ip string) []byte {
	return []byte(fmt.Sprintf(`{"id":"/subscriptions/s/providers/Microsoft.Security/locations/westeurope/alerts/a%d","name":"a%d",
"properties":{"alertType":"API_AccessFromSuspiciousIP","systemAlertId":"sys-%04d","severity":"High","startTimeUtc":"2026-11-23T11:00:00Z",
"entities":[{"$id":"1","type":"ip","address":%q}]}}`, i, i, i, ip))
}

func ownedValues(t *testing.T, f *armfake.Service, kind waf.Kind) []string {
	t.Helper()
	doc, _ := f.Current()
	d, err := waf.ParseDocument(kind, doc)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, r := range d.Owned(waf.Options{Kind: kind}.WithDefaults()) {
		vs = append(vs, r.Values...)
	}
	return vs
}

func customerPart(t *testing.T, f *armfake.Service, kind waf.Kind) []any {
	t.Helper()
	doc, _ := f.Current()
	d, err := waf.ParseDocument(kind, doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, raw := range d.CustomerRules() {
		var v any
		_ = json.Unmarshal(raw, &v)
		out = append(out, v)
	}
	return out
}

// 200 alerts for 200 addresses arrive at once: every address ends in the policy's owned
// rules, the customer's rules are untouched, and the writes are far fewer than alerts.
func TestConcurrentAlertsCoalesceIntoFewWrites(t *testing.T) {
	fd := fakeFrontDoor(t)
	before := customerPart(t, fd, waf.FrontDoor)
	a, mem, _ := wafApp(t, newClock(), fd)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := fmt.Sprintf("45.%d.%d.7", 100+i/100, i%100+1) // distinct /24s: nothing aggregates
			status, v := postAlert(t, a, alertFor(i, ip), nil)
			if status != http.StatusAccepted || v.Incidents[0].Decisions[0].Action != "block_waf" {
				errs <- fmt.Errorf("alert %d: %d %+v", i, status, v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mem.Wait()
	values := ownedValues(t, fd, waf.FrontDoor)
	if len(values) != 200 {
		t.Fatalf("owned values %d, want 200", len(values))
	}
	if after := customerPart(t, fd, waf.FrontDoor); !reflect.DeepEqual(before, after) {
		t.Errorf("customer rules changed:\n%v\n%v", before, after)
	}
	writes := fd.Writes()
	t.Logf("200 concurrent alerts -> %d policy writes (%d PUTs, %d 412s)", writes, fd.Puts(), fd.Conflicts())
	if writes == 0 || writes > 40 {
		t.Errorf("%d writes for 200 alerts", writes)
	}
}

// A portal edit of a customer rule between our read and our write: the 412 makes us
// re-read, and both changes survive.
func TestConcurrentWriterLosesNothing(t *testing.T) {
	fd := fakeFrontDoor(t)
	fd.BeforeWrite(func(cur []byte) []byte {
		return []byte(strings.Replace(string(cur), `"rateLimitThreshold":100`, `"rateLimitThreshold":40`, 1))
	})
	a, mem, waits := wafApp(t, newClock(), fd)
	if status, _ := postAlert(t, a, alertFor(1, "45.153.160.140"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	doc, _ := fd.Current()
	if !strings.Contains(string(doc), `"rateLimitThreshold":40`) {
		t.Errorf("the concurrent edit was lost:\n%s", doc)
	}
	if v := ownedValues(t, fd, waf.FrontDoor); len(v) != 1 || v[0] != "45.153.160.140" {
		t.Errorf("owned values %v", v)
	}
	if fd.Conflicts() != 1 || len(*waits) != 1 {
		t.Errorf("conflicts %d, waits %v", fd.Conflicts(), *waits)
	}
}

// 429 with Retry-After is waited out as told (Application Gateway).
func TestThrottledWriteWaitsRetryAfter(t *testing.T) {
	agw := fakeAppGW(t)
	agw.ThrottleNext(1, 9*time.Second)
	a, mem, waits := wafApp(t, newClock(), agw)
	if status, _ := postAlert(t, a, alertFor(2, "45.153.160.141"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	if v := ownedValues(t, agw, waf.AppGW); len(v) != 1 {
		t.Errorf("owned values %v", v)
	}
	if len(*waits) != 1 || (*waits)[0] != 9*time.Second {
		t.Errorf("waits %v, want [9s]", *waits)
	}
}

// Owned rules deleted by someone else come back with the next periodic repair, and
// expiry takes the rules out again, leaving the customer's policy as it was.
func TestDriftRepairAndExpiry(t *testing.T) {
	fd := fakeFrontDoor(t)
	orig, _ := fd.Current()
	c := newClock()
	a, mem, _ := wafApp(t, c, fd)
	if status, _ := postAlert(t, a, alertFor(3, "45.153.160.142"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	fd.Mutate(func([]byte) []byte { return orig }) // an IaC redeploy wipes our rules
	if v := ownedValues(t, fd, waf.FrontDoor); len(v) != 0 {
		t.Fatalf("drift not applied: %v", v)
	}
	timer := []byte(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", timer); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	if v := ownedValues(t, fd, waf.FrontDoor); len(v) != 1 {
		t.Fatalf("periodic repair did not restore the rule: %v", v)
	}
	c.add(8 * 24 * time.Hour)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", timer); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	now, _ := fd.Current()
	if v := ownedValues(t, fd, waf.FrontDoor); len(v) != 0 {
		t.Errorf("expired block still enforced: %v", v)
	}
	if !jsonSame(t, stripETag(t, now), stripETag(t, orig)) {
		t.Errorf("after expiry the policy differs from the customer's:\n%s\n%s", now, orig)
	}
}

func stripETag(t *testing.T, doc []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "etag")
	b, _ := json.Marshal(m)
	return b
}

func jsonSame(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatal("not JSON")
	}
	return reflect.DeepEqual(x, y)
}

// Under the Functions host the remediate function gets a Service Bus batch (one
// session = one policy) and reconciles each named target once.
func TestRemediateFunctionCoalescesABatch(t *testing.T) {
	fd := fakeFrontDoor(t)
	var sent []queue.Message
	a, _ := build(t, newClock(), map[string]string{
		"APIGUARD_WAF_TARGETS":             fmt.Sprintf(`[{"id": %q}]`, fd.ID()),
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR": "1000",
	}, func(d *flow.Deps) {
		d.ARM = func(string) (azcore.TokenCredential, *arm.ClientOptions, error) {
			o := *fd.ClientOptions()
			o.Retry.MaxRetries = -1 // let the programmed 503 reach the reconciler instead of the SDK's retry
			return fd.Credential(), &o, nil
		}
		d.Queue = senderFunc(func(_ context.Context, m []queue.Message) error { sent = append(sent, m...); return nil })
		d.Sleep = func(context.Context, time.Duration) error { return nil }
	})
	for i, ip := range []string{"45.153.160.150", "45.153.161.150", "45.153.162.150"} {
		if status, _ := postAlert(t, a, alertFor(10+i, ip), nil); status != http.StatusAccepted {
			t.Fatal(status)
		}
	}
	if len(sent) != 3 || sent[0].Target != fdID {
		t.Fatalf("reconcile requests %+v", sent)
	}
	if fd.Writes() != 0 {
		t.Fatal("wrote before the remediate function ran")
	}
	var bodies []string
	for _, m := range sent {
		b, _ := json.Marshal(m)
		bodies = append(bodies, string(b))
	}
	arr, _ := json.Marshal(bodies)
	data, _ := json.Marshal(string(arr))
	ids, _ := json.Marshal(`["m-1","m-2","m-3"]`)
	counts, _ := json.Marshal(`[1,1,1]`)
	env := fmt.Sprintf(`{"Data":{"msgs":%s},"Metadata":{"MessageIdArray":%s,"DeliveryCountArray":%s,"sys":{"MethodName":"remediate"}}}`, data, ids, counts)
	code, ans := invokeHost(t, a.HostHandler(), "remediate", []byte(env))
	if code != http.StatusOK || len(ans.Logs) == 0 || !strings.Contains(ans.Logs[0], "3 requests for 1 targets, 1 policies written") {
		t.Fatalf("remediate: %d %+v", code, ans)
	}
	if fd.Writes() != 1 || len(ownedValues(t, fd, waf.FrontDoor)) != 3 {
		t.Errorf("writes %d, values %v", fd.Writes(), ownedValues(t, fd, waf.FrontDoor))
	}
	// A transient ARM failure fails the invocation, so the host redelivers the batch.
	fd.FailNext(1, http.StatusServiceUnavailable, "ServiceUnavailable")
	if code, _ := invokeHost(t, a.HostHandler(), "remediate", []byte(env)); code != http.StatusInternalServerError {
		t.Errorf("transient failure answered %d", code)
	}
	// A request for a target no longer configured is dropped, not looped on.
	bad, _ := json.Marshal(string(`["{\"target\":\"file:gone.json\"}"]`))
	code, _ = invokeHost(t, a.HostHandler(), "remediate", []byte(fmt.Sprintf(`{"Data":{"msgs":%s},"Metadata":{"MessageIdArray":"[\"x\"]"}}`, bad)))
	if code != http.StatusOK {
		t.Errorf("unknown target answered %d", code)
	}
}

type senderFunc func(context.Context, []queue.Message) error

func (f senderFunc) Send(ctx context.Context, m []queue.Message) error { return f(ctx, m) }

// serve's local file targets: an enforcing alert changes the policy file within one
// reconcile, and expiry takes the rule out again.
func TestLocalFileTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "waf", "frontdoor.json")
	c := newClock()
	a, mem, _ := queueApp(t, c, map[string]string{"APIGUARD_WAF_TARGETS": fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, path)}, 250*time.Millisecond, nil)
	if status, _ := postAlert(t, a, readFile(t, "../docs/examples/alert-arm.json"), nil); status != http.StatusAccepted {
		t.Fatal(status)
	}
	mem.Wait()
	doc, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(doc), "45.153.160.140") || !strings.Contains(string(doc), `"SocketAddr"`) {
		t.Fatalf("policy file after the alert: %s %v", doc, err)
	}
	c.add(8 * 24 * time.Hour)
	if code, _ := invokeHost(t, a.HostHandler(), "expire", []byte(`{"Data":{"timer":{}},"Metadata":{}}`)); code != http.StatusOK {
		t.Fatal(code)
	}
	mem.Wait()
	doc, _ = os.ReadFile(path)
	if strings.Contains(string(doc), "45.153.160.140") {
		t.Errorf("expired block still in the policy file: %s", doc)
	}
}
