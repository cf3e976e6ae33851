package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/apim/fragment"
	"github.com/apiguard/apiguard/shared/apim/include"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// customerAPIPolicy is an API-scope policy as customers write them: CRLF, a C#
// expression with && and => in an attribute, a named value.
const customerAPIPolicy = "<policies>\r\n  <inbound>\r\n    <base />\r\n" +
	"    <set-header name=\"x-who\" exists-action=\"override\"><value>@(context.User != null && context.User.Groups.Any(g => g.Id == \"admins\") ? \"a\" : \"u\")</value></set-header>\r\n" +
	"    <set-backend-service base-url=\"{{backend-url}}\" />\r\n  </inbound>\r\n  <backend><base /></backend>\r\n  <outbound><base /></outbound>\r\n</policies>\r\n"

func apimBlock(action, kind, target string, exp time.Time) record.Block {
	return record.Block{Action: action, TargetKind: kind, Target: target, Severity: "High", Expires: exp, Mode: "enforce", SourceIncident: "inc-" + target}
}

func newAPIMDir(t *testing.T, dir string, d Desired, a Auditor, scopes ...string) *APIMReconciler {
	t.Helper()
	target := config.APIMTarget{Dir: dir, FragmentID: "apiguard-enforce", Scopes: scopes,
		Enforce: []vocab.Action{vocab.BlockAPIM, vocab.Throttle}, ForwardedHeader: "X-Forwarded-For", TrustedHops: 1}
	frag, sc := APIMDir(dir, target.FragmentID, scopes)
	return &APIMReconciler{
		Key: target.Key(), FragmentID: target.FragmentID, Actions: target.Enforce,
		Options: APIMFragmentOptions(target), Calls: 10, Period: 60,
		Fragment: frag, Scopes: sc, Desired: d, Audit: a,
		Now:   func() time.Time { return t0 },
		Sleep: func(context.Context, time.Duration) error { return nil },
		Guard: decide.NewGuard(nil),
	}
}

func TestAPIMReconcileLocalDir(t *testing.T) {
	dir := t.TempDir()
	apiFile := filepath.Join(dir, "apis", "echo-api.xml")
	if err := os.MkdirAll(filepath.Dir(apiFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(apiFile, []byte(customerAPIPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour)
	d := &memDesired{blocks: []record.Block{
		apimBlock("block_apim", "ip", "185.220.101.7", exp),
		apimBlock("block_apim", "cidr", "91.240.118.0/24", exp),
		apimBlock("block_apim", "ip", "10.1.2.3", exp),                                                  // protected: skipped with its reason
		apimBlock("block_apim", "ip", "185.220.101.8", t0),                                              // expired: left out
		apimBlock("block_waf", "ip", "185.220.101.99", exp),                                             // not an action this target enforces
		apimBlock("throttle", "ip", "192.0.2.200", exp),                                                 // TEST-NET: protected
		apimBlock("throttle", "ip", "45.153.160.140", exp),                                              // throttled by address
		apimBlock("throttle", "subscription", "sub-1234", exp),                                          // by subscription id
		apimBlock("throttle", "cidr", "45.153.160.0/24", exp),                                           // cannot be throttled
		apimBlock("throttle", "user", "alice@example.com", exp),                                         // by the token's sub claim
		{Action: "block_apim", TargetKind: "ip", Target: "185.220.101.9", Expires: exp, Mode: "dryrun"}, // dry run: not enforced
	}}
	fwd := apimBlock("block_apim", "ip", "45.153.160.2", exp)
	fwd.Forwarded = true
	d.blocks = append(d.blocks, fwd)
	audit := &memAudit{}
	r := newAPIMDir(t, dir, d, audit, "global", "apis/echo-api")

	res, err := r.Reconcile(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Wrote || !res.Fragment {
		t.Fatalf("nothing written: %+v", res)
	}
	// 185.220.101.7, 91.240.118.0/24 and the forwarded 45.153.160.2.
	if res.Blocks != 3 || res.Forwarded != 1 || res.Throttles != 3 {
		t.Errorf("blocks %d forwarded %d throttles %d, want 3 1 3", res.Blocks, res.Forwarded, res.Throttles)
	}
	wantSkips := map[string]string{
		"block_apim 10.1.2.3":      "never blocked",
		"throttle 192.0.2.200":     "never throttled",
		"throttle 45.153.160.0/24": "cannot be throttled",
	}
	if len(res.Skipped) != len(wantSkips) {
		t.Errorf("skipped %+v, want %d", res.Skipped, len(wantSkips))
	}
	for _, s := range res.Skipped {
		if w, ok := wantSkips[s.What]; !ok || !strings.Contains(s.Reason, w) {
			t.Errorf("skip %q: %q, want a reason with %q", s.What, s.Reason, w)
		}
	}

	frag, err := os.ReadFile(filepath.Join(dir, "fragments", "apiguard-enforce.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(frag, new(struct{})); err != nil {
		t.Fatalf("fragment is not well-formed: %v\n%s", err, frag)
	}
	for _, want := range []string{"<address>185.220.101.7</address>", `<address-range from="91.240.118.0" to="91.240.118.255" />`,
		"<address>45.153.160.2</address>", "X-Forwarded-For", `counter-key="apiguard/ip/45.153.160.140"`,
		`counter-key="apiguard/subscription/sub-1234"`, `context.User?.Id == &quot;alice@example.com&quot;`} {
		if !bytes.Contains(frag, []byte(want)) {
			t.Errorf("fragment lacks %s", want)
		}
	}
	for _, never := range []string{"10.1.2.3", "185.220.101.8", "185.220.101.9", "185.220.101.99", "192.0.2.200"} {
		if bytes.Contains(frag, []byte(never)) {
			t.Errorf("fragment holds %s", never)
		}
	}

	// The global scope had no file: a minimal policy with the include was created.
	global, err := os.ReadFile(filepath.Join(dir, "global.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := include.Count(global, "apiguard-enforce"); err != nil || n != 1 {
		t.Errorf("global.xml includes the fragment %d times (%v):\n%s", n, err, global)
	}
	if !res.Scopes["global"].Created || res.Scopes["apis/echo-api"].Created {
		t.Errorf("created flags %+v", res.Scopes)
	}
	// The customer's API policy: the include once, and every other byte as it was.
	api, err := os.ReadFile(apiFile)
	if err != nil {
		t.Fatal(err)
	}
	back, changed, err := include.Remove(api, "apiguard-enforce")
	if err != nil || !changed || string(back) != customerAPIPolicy {
		t.Errorf("removal does not restore the customer's policy (changed %v, err %v):\n%q", changed, err, back)
	}

	kinds := map[string]int{}
	for _, ev := range audit.events {
		kinds[ev.Kind]++
	}
	if kinds["apim.fragment_written"] != 1 || kinds["apim.include_added"] != 2 {
		t.Errorf("audit kinds %v", kinds)
	}
	var detail struct {
		After  string   `json:"fragment_after"`
		Inputs []string `json:"inputs"`
	}
	for _, ev := range audit.events {
		if ev.Kind == "apim.fragment_written" {
			if err := json.Unmarshal(ev.Detail, &detail); err != nil {
				t.Fatal(err)
			}
		}
	}
	if detail.After != string(frag) || len(detail.Inputs) != 6 {
		t.Errorf("audit detail: %d inputs %v, fragment recorded %v", len(detail.Inputs), detail.Inputs, detail.After == string(frag))
	}

	// A second reconcile writes nothing.
	again, err := r.Reconcile(context.Background(), quiet)
	if err != nil || again.Wrote {
		t.Errorf("second reconcile: wrote %v, err %v", again.Wrote, err)
	}
	if len(audit.events) != 3 {
		t.Errorf("second reconcile audited: %d events", len(audit.events))
	}

	// Everything expires: the fragment empties, the includes stay.
	r.Now = func() time.Time { return exp }
	res, err = r.Reconcile(context.Background(), quiet)
	if err != nil || !res.Fragment || res.Blocks != 0 || res.Throttles != 0 {
		t.Fatalf("after expiry: %+v, %v", res, err)
	}
	frag, _ = os.ReadFile(filepath.Join(dir, "fragments", "apiguard-enforce.xml"))
	if !SameXML(frag, fragment.Empty()) {
		t.Errorf("fragment after expiry:\n%s", frag)
	}
}

func TestAPIMReconcileRefusesScopeWithoutInbound(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "apis", "odd.xml")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	odd := []byte("<policies>\n  <backend><forward-request /></backend>\n</policies>\n")
	if err := os.WriteFile(bad, odd, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &memDesired{blocks: []record.Block{apimBlock("block_apim", "ip", "185.220.101.7", t0.Add(time.Hour))}}
	r := newAPIMDir(t, dir, d, &memAudit{}, "apis/odd", "global")
	res, err := r.Reconcile(context.Background(), quiet)
	if err == nil || fault.Of(err) == fault.Retry || !errors.Is(err, include.ErrNoInbound) {
		t.Fatalf("want a rejection naming the missing inbound, got %v", err)
	}
	if !strings.Contains(res.Refused["apis/odd"], "inbound") {
		t.Errorf("refused %v", res.Refused)
	}
	got, _ := os.ReadFile(bad)
	if !bytes.Equal(got, odd) {
		t.Errorf("the refused policy was changed:\n%s", got)
	}
	// The other scope and the fragment were still done.
	if !res.Fragment || len(res.Included) != 1 || res.Included[0] != "global" {
		t.Errorf("result %+v", res)
	}
}

// An operator's edit between read and write is a conflict: the reconcile re-reads
// and keeps the edit.
func TestAPIMReconcileConcurrentEditOfScope(t *testing.T) {
	dir := t.TempDir()
	d := &memDesired{}
	r := newAPIMDir(t, dir, d, &memAudit{}, "global")
	global := filepath.Join(dir, "global.xml")
	if err := os.WriteFile(global, DefaultScopePolicy("global", "other-fragment"), 0o644); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(DefaultScopePolicy("global", "other-fragment"), []byte("<outbound />"), []byte("<outbound><set-header name=\"x\" exists-action=\"delete\" /></outbound>"), 1)
	if bytes.Equal(edited, DefaultScopePolicy("global", "other-fragment")) {
		t.Fatal("the edit changes nothing")
	}
	inner := r.Scopes[0].Backend
	r.Scopes[0].Backend = &editOnce{Backend: inner, edit: func() { os.WriteFile(global, edited, 0o644) }}
	res, err := r.Reconcile(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 1 || len(res.Included) != 1 {
		t.Fatalf("%+v", res)
	}
	got, _ := os.ReadFile(global)
	back, _, _ := include.Remove(got, "apiguard-enforce")
	if !bytes.Equal(back, edited) {
		t.Errorf("the concurrent edit was lost:\n%s", got)
	}
}

// editOnce runs edit just before the first Put: a writer between our read and write.
type editOnce struct {
	Backend
	edit func()
	done bool
}

func (e *editOnce) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if !e.done {
		e.done = true
		e.edit()
	}
	return e.Backend.Put(ctx, doc, etag)
}

func TestSameXML(t *testing.T) {
	a := []byte("<fragment>\n\t<!-- c -->\n\t<ip-filter action=\"forbid\">\n\t\t<address>1.2.3.4</address>\n\t</ip-filter>\n</fragment>\n")
	cases := []struct {
		name string
		b    string
		same bool
	}{
		{"identical", string(a), true},
		{"CRLF and other indentation", "<fragment>\r\n<ip-filter action='forbid'>\r\n  <address>1.2.3.4</address>\r\n</ip-filter>\r\n</fragment>", true},
		{"entities for quotes", "<fragment><ip-filter action=\"&#102;orbid\"><address>1.2.3.4</address></ip-filter></fragment>", true},
		{"another address", "<fragment><ip-filter action=\"forbid\"><address>1.2.3.5</address></ip-filter></fragment>", false},
		{"another action", "<fragment><ip-filter action=\"allow\"><address>1.2.3.4</address></ip-filter></fragment>", false},
		{"an extra element", "<fragment><ip-filter action=\"forbid\"><address>1.2.3.4</address></ip-filter><base /></fragment>", false},
		{"not XML", "<fragment><ip-filter>", false},
		{"empty", "", false},
	}
	for _, c := range cases {
		if got := SameXML(a, []byte(c.b)); got != c.same {
			t.Errorf("%s: SameXML = %v, want %v", c.name, got, c.same)
		}
	}
}

func TestAPIOf(t *testing.T) {
	cases := []struct{ in, svc, api string }{
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-prod/apis/echo-api", "apim-prod", "echo-api"},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-prod/apis/echo-api/operations/get", "apim-prod", "echo-api"},
		{"echo-api", "", "echo-api"},
		{"/subscriptions/s/resourceGroups/rg", "", ""},
	}
	for _, c := range cases {
		svc, api, ok := apiOf(c.in)
		if svc != c.svc || api != c.api || ok != (c.api != "") {
			t.Errorf("apiOf(%q) = %q %q %v", c.in, svc, api, ok)
		}
	}
}

// lostWrite acknowledges its first Put without storing it, as a service that drops a
// write would: verification must notice and write again.
type lostWrite struct {
	Backend
	lost bool
}

func (l *lostWrite) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if !l.lost {
		l.lost = true
		return `"acknowledged-but-lost"`, nil
	}
	return l.Backend.Put(ctx, doc, etag)
}

func TestAPIMReconcileVerifiesAfterWrite(t *testing.T) {
	dir := t.TempDir()
	d := &memDesired{blocks: []record.Block{apimBlock("block_apim", "ip", "185.220.101.7", t0.Add(time.Hour))}}
	r := newAPIMDir(t, dir, d, &memAudit{}, "global")
	lw := &lostWrite{Backend: r.Fragment}
	r.Fragment = lw
	res, err := r.Reconcile(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !lw.lost || res.Attempts != 2 || !res.Fragment {
		t.Fatalf("lost write not retried: %+v", res)
	}
	frag, _ := os.ReadFile(filepath.Join(dir, "fragments", "apiguard-enforce.xml"))
	if !bytes.Contains(frag, []byte("185.220.101.7")) {
		t.Errorf("fragment:\n%s", frag)
	}
}
