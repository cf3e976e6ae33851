package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azure"
	"github.com/apiguard/apiguard/shared/enforce/azure/armfake"
	"github.com/apiguard/apiguard/shared/record"
)

// unknownCase is a policy carrying fields the SDK's API version does not know, and
// where they are (a path of member names and array indexes).
type unknownCase struct {
	kind, id, file string
	serve          func(id string, doc []byte) *armfake.Service
	sdkRoundTrip   func(doc []byte) ([]byte, error) // what a typed read-modify-write sends
	unknown        [][]any
}

// typedRoundTrip is what a read-modify-write through the SDK's model T sends back.
func typedRoundTrip[T any](doc []byte) ([]byte, error) {
	var m T
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

var unknownCases = []unknownCase{
	{
		kind: azure.KindAppGW, id: appGWID, file: "testdata/appgw-unknown.json", serve: armfake.NewAppGWJSON,
		sdkRoundTrip: typedRoundTrip[armnetwork.WebApplicationFirewallPolicy],
		unknown: [][]any{
			{"futureTopLevel"},
			{"properties", "futureProperty"},
			{"properties", "policySettings", "futureSetting"},
			{"properties", "managedRules", "managedRuleSets", 0, "futureRuleSetOption"},
			{"properties", "customRules", 0, "futureRuleField"},
			{"properties", "customRules", 0, "matchConditions", 0, "futureConditionField"},
		},
	},
	{
		kind: azure.KindFrontDoor, id: frontDoorID, file: "testdata/frontdoor-unknown.json", serve: armfake.NewFrontDoorJSON,
		sdkRoundTrip: typedRoundTrip[armfrontdoor.WebApplicationFirewallPolicy],
		unknown: [][]any{
			{"futureTopLevel"},
			{"properties", "futureProperty"},
			{"properties", "policySettings", "futureSetting"},
			{"properties", "managedRules", "managedRuleSets", 0, "futureRuleSetOption"},
			{"properties", "customRules", "rules", 0, "futureRuleField"},
			{"properties", "customRules", "rules", 0, "matchConditions", 0, "futureConditionField"},
		},
	},
}

// rawAt returns the bytes of the value at path in doc, exactly as written, or nil.
func rawAt(t *testing.T, doc []byte, path []any) []byte {
	t.Helper()
	cur := json.RawMessage(doc)
	for _, step := range path {
		dec := json.NewDecoder(bytes.NewReader(cur))
		if _, err := dec.Token(); err != nil { // { or [
			t.Fatalf("%v: %v", path, err)
		}
		var found json.RawMessage
		for i := 0; dec.More(); i++ {
			match := false
			if key, ok := step.(string); ok {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("%v: %v", path, err)
				}
				match = tok == key
			} else {
				match = i == step.(int)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%v: %v", path, err)
			}
			if match {
				found = v
				break
			}
		}
		if found == nil {
			return nil
		}
		cur = found
	}
	return cur
}

// Fields the SDK does not know, at every depth, keep their bytes through a reconcile
// that adds owned rules and one that removes them again; the second gives back the
// service's first answer byte for byte, apart from the new ETag.
func TestUnknownFieldsKeptByReconcile(t *testing.T) {
	for _, c := range unknownCases {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			fixture, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			// The fields are unknown to the SDK: a typed round trip loses every one.
			typed, err := c.sdkRoundTrip(fixture)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.unknown {
				if rawAt(t, typed, p) != nil {
					t.Fatalf("%v is known to the SDK: the case proves nothing", p)
				}
			}

			svc := c.serve(c.id, fixture)
			first, _ := svc.Current()
			desired := &memDesired{}
			rid, err := azure.ParseResourceID(c.id)
			if err != nil {
				t.Fatal(err)
			}
			b, err := azure.NewBackend(rid, svc.Credential(), svc.ClientOptions(), azure.PollFrequency(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			r := &enforce.WAFReconciler{
				Key: c.kind, Backend: b, Desired: desired, Audit: nopAudit{},
				Options: enforce.WAFOptions(config.WAFTarget{Kind: c.kind, Prefix: "apiguard", PriorityStart: 50, PriorityEnd: 99, MaxValues: 600}),
				Now:     func() time.Time { return now },
				Guard:   decide.NewGuard(nil),
			}
			log := zerolog.New(io.Discard)

			desired.set(
				wafBlock("45.153.160.140"), wafBlock("2a01:111:f400::1"), wafBlock("45.153.170.0/24"))
			res, err := r.Reconcile(context.Background(), log)
			if err != nil || !res.Wrote || res.Rules == 0 {
				t.Fatalf("add: %+v, %v", res, err)
			}
			added, _ := svc.Current()
			if names := ruleNames(t, c.kind, added); len(names) < 2 || !strings.HasPrefix(names[len(names)-1], "apiguard") {
				t.Fatalf("rules after add: %v", names)
			}
			for _, p := range c.unknown {
				want, got := rawAt(t, fixture, p), rawAt(t, added, p)
				if want == nil || !bytes.Equal(got, want) {
					t.Errorf("%v after add: %s, want %s", p, got, want)
				}
			}

			desired.set()
			res, err = r.Reconcile(context.Background(), log)
			if err != nil || !res.Wrote || res.Rules != 0 {
				t.Fatalf("remove: %+v, %v", res, err)
			}
			last, lastTag := svc.Current()
			var firstDoc struct {
				ETag string `json:"etag"`
			}
			if err := json.Unmarshal(first, &firstDoc); err != nil {
				t.Fatal(err)
			}
			firstTag, _ := json.Marshal(firstDoc.ETag)
			lastTagJSON, _ := json.Marshal(lastTag)
			if back := bytes.Replace(last, lastTagJSON, firstTag, 1); !bytes.Equal(back, first) {
				t.Fatalf("after add and remove:\n%s\nwant the first answer:\n%s", last, first)
			}
			if svc.Writes() != 2 {
				t.Fatalf("writes %d, want 2", svc.Writes())
			}
		})
	}
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func wafBlock(target string) record.Block {
	return record.Block{Action: "block_waf", Target: target, Severity: "High", Expires: now.Add(time.Hour), Mode: "enforce", SourceIncident: "inc-" + target}
}

// memDesired is a desired state in memory.
type memDesired struct{ blocks []record.Block }

func (m *memDesired) set(bs ...record.Block) { m.blocks = bs }

func (m *memDesired) ListBlocks(_ context.Context, action string) ([]record.Block, error) {
	var out []record.Block
	for _, b := range m.blocks {
		if b.Action == action {
			out = append(out, b)
		}
	}
	return out, nil
}

type nopAudit struct{}

func (nopAudit) AppendAudit(context.Context, []record.AuditEvent) error { return nil }
