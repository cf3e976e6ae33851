package armfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/apiguard/apiguard/shared/enforce/azure/armfake"
)

const (
	rg          = "rg-edge"
	appGWID     = "/subscriptions/sub1/resourceGroups/rg-edge/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/wafEdge"
	frontDoorID = "/subscriptions/sub1/resourceGroups/rg-edge/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/wafGlobal"
)

// client is the little the tests need of either SDK client, used raw (no apiguard
// backend in between) so the fake's own behaviour is what is checked.
type client interface {
	get(ctx context.Context, name string) (etag string, err error)
	// put writes the current policy back with hdr as extra request headers.
	put(ctx context.Context, name string, hdr http.Header) (etag string, err error)
}

type appGWClient struct {
	c *armnetwork.WebApplicationFirewallPoliciesClient
}

func (a appGWClient) get(ctx context.Context, name string) (string, error) {
	r, err := a.c.Get(ctx, rg, name, nil)
	if err != nil {
		return "", err
	}
	return *r.Etag, nil
}

func (a appGWClient) put(ctx context.Context, name string, hdr http.Header) (string, error) {
	r, err := a.c.Get(ctx, rg, "wafEdge", nil)
	if err != nil {
		return "", err
	}
	w, err := a.c.CreateOrUpdate(policy.WithHTTPHeader(ctx, hdr), rg, name, r.WebApplicationFirewallPolicy, nil)
	if err != nil {
		return "", err
	}
	return *w.Etag, nil
}

type frontDoorClient struct {
	c *armfrontdoor.PoliciesClient
}

func (f frontDoorClient) get(ctx context.Context, name string) (string, error) {
	r, err := f.c.Get(ctx, rg, name, nil)
	if err != nil {
		return "", err
	}
	return *r.Etag, nil
}

func (f frontDoorClient) put(ctx context.Context, name string, hdr http.Header) (string, error) {
	r, err := f.c.Get(ctx, rg, "wafGlobal", nil)
	if err != nil {
		return "", err
	}
	p, err := f.c.BeginCreateOrUpdate(policy.WithHTTPHeader(ctx, hdr), rg, name, r.WebApplicationFirewallPolicy, nil)
	if err != nil {
		return "", err
	}
	w, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: time.Millisecond})
	if err != nil {
		return "", err
	}
	return *w.Etag, nil
}

type kindCase struct {
	kind string
	name string // the policy's name
	new  func(t *testing.T) (*armfake.Service, client)
}

var kinds = []kindCase{
	{kind: "appgw", name: "wafEdge", new: func(t *testing.T) (*armfake.Service, client) {
		svc := armfake.NewAppGW(appGWID, armnetwork.WebApplicationFirewallPolicy{
			Location: to.Ptr("westeurope"),
			Properties: &armnetwork.WebApplicationFirewallPolicyPropertiesFormat{
				ManagedRules: &armnetwork.ManagedRulesDefinition{ManagedRuleSets: []*armnetwork.ManagedRuleSet{
					{RuleSetType: to.Ptr("OWASP"), RuleSetVersion: to.Ptr("3.2")},
				}},
			},
		})
		c, err := armnetwork.NewWebApplicationFirewallPoliciesClient("sub1", svc.Credential(), svc.ClientOptions())
		if err != nil {
			t.Fatal(err)
		}
		return svc, appGWClient{c}
	}},
	{kind: "frontdoor", name: "wafGlobal", new: func(t *testing.T) (*armfake.Service, client) {
		svc := armfake.NewFrontDoor(frontDoorID, armfrontdoor.WebApplicationFirewallPolicy{
			Location:   to.Ptr("Global"),
			SKU:        &armfrontdoor.SKU{Name: to.Ptr(armfrontdoor.SKUNamePremiumAzureFrontDoor)},
			Properties: &armfrontdoor.WebApplicationFirewallPolicyProperties{CustomRules: &armfrontdoor.CustomRuleList{}},
		})
		c, err := armfrontdoor.NewPoliciesClient("sub1", svc.Credential(), svc.ClientOptions())
		if err != nil {
			t.Fatal(err)
		}
		return svc, frontDoorClient{c}
	}},
}

func eachKind(t *testing.T, f func(t *testing.T, k kindCase)) {
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			f(t, k)
		})
	}
}

// armErrorBody checks err is an *azcore.ResponseError with status and code and an
// ARM error body {"error":{"code","message"}}.
func armErrorBody(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want *azcore.ResponseError, got %v", err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s", re.StatusCode, re.ErrorCode, status, code)
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err != nil || wire.Error.Code != code || wire.Error.Message == "" {
		t.Fatalf("not an ARM error body: %s", body)
	}
}

func TestGetCarriesETag(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		etag, err := c.get(context.Background(), k.name)
		if err != nil {
			t.Fatal(err)
		}
		doc, want := svc.Current()
		if etag != want || !strings.HasPrefix(etag, `W/"`) || !strings.HasSuffix(etag, `"`) {
			t.Fatalf("etag %q, service holds %q", etag, want)
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil || m["etag"] != want || m["id"] != svc.ID() || m["name"] != k.name {
			t.Fatalf("stored document: %s", doc)
		}
	})
}

func TestConditionalWrites(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		ctx := context.Background()
		etag0, _ := c.get(ctx, k.name)

		etag1, err := c.put(ctx, k.name, http.Header{"If-Match": {etag0}})
		if err != nil || etag1 == etag0 {
			t.Fatalf("current If-Match: %q %v", etag1, err)
		}
		_, err = c.put(ctx, k.name, http.Header{"If-Match": {etag0}})
		armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")

		etag2, err := c.put(ctx, k.name, http.Header{}) // no If-Match: last writer wins
		if err != nil || etag2 == etag1 {
			t.Fatalf("no If-Match: %q %v", etag2, err)
		}
		etag3, err := c.put(ctx, k.name, http.Header{"If-Match": {"*"}})
		if err != nil || etag3 == etag2 {
			t.Fatalf("If-Match *: %q %v", etag3, err)
		}
		_, err = c.put(ctx, k.name, http.Header{"If-None-Match": {"*"}})
		armErrorBody(t, err, http.StatusPreconditionFailed, "PreconditionFailed")

		p := svc.Snapshot()
		if p.Writes != 3 || p.Conflicts != 2 || p.Puts != 5 || p.ETag != etag3 {
			t.Fatalf("counters %+v", p)
		}
	})
}

func TestUnknownPolicyIsNotFound(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		_, err := c.get(context.Background(), "other")
		armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
		_, err = c.put(context.Background(), "other", http.Header{})
		armErrorBody(t, err, http.StatusNotFound, "ResourceNotFound")
		if svc.Writes() != 0 {
			t.Fatal("the fake never creates a policy")
		}
		// Names are case-insensitive, as in ARM.
		if _, err := c.get(context.Background(), strings.ToUpper(k.name)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestThrottleAnswer(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		// Raw SDK clients retry 429 by default (a Retry-After under MaxRetryDelay is
		// slept inside the call): switch that off to see the answers themselves.
		ctx := policy.WithRetryOptions(context.Background(), policy.RetryOptions{StatusCodes: []int{}})
		svc.ThrottleNext(2, 1500*time.Millisecond)
		ran := 0
		svc.BeforeWrite(func(doc []byte) []byte { ran++; return nil })
		for range 2 {
			_, err := c.put(ctx, k.name, http.Header{})
			armErrorBody(t, err, http.StatusTooManyRequests, "SubscriptionRequestsThrottled")
			var re *azcore.ResponseError
			errors.As(err, &re)
			h := re.RawResponse.Header
			if h.Get("Retry-After") != "2" || h.Get("Retry-After-Ms") != "1500" || h.Get("x-ms-ratelimit-remaining-subscription-writes") != "0" {
				t.Fatalf("headers %v", h)
			}
		}
		if ran != 0 {
			t.Fatal("a throttled PUT never reaches the write, nor the concurrent writer")
		}
		if _, err := c.put(ctx, k.name, http.Header{}); err != nil {
			t.Fatal(err)
		}
		if p := svc.Snapshot(); p.Throttled != 2 || p.Writes != 1 || p.Puts != 3 || ran != 1 {
			t.Fatalf("counters %+v, concurrent writer ran %d", p, ran)
		}

		svc.ThrottleNext(1, 3*time.Second)
		_, err := c.put(ctx, k.name, http.Header{})
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.RawResponse.Header.Get("Retry-After") != "3" || re.RawResponse.Header.Get("Retry-After-Ms") != "" {
			t.Fatalf("whole seconds: %v", err)
		}
	})
}

func TestBeforeWriteQueuesOnePerPut(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		ctx := context.Background()
		var seen []string
		for i := range 2 {
			svc.BeforeWrite(func(doc []byte) []byte {
				var m map[string]any
				_ = json.Unmarshal(doc, &m)
				seen = append(seen, m["etag"].(string))
				m["tags"] = map[string]any{"writer": fmt.Sprint("iac", i)}
				out, _ := json.Marshal(m)
				return out
			})
		}
		for i := range 3 {
			etag, _ := c.get(ctx, k.name)
			_, err := c.put(ctx, k.name, http.Header{"If-Match": {etag}})
			if (i < 2) != (err != nil) {
				t.Fatalf("PUT %d: %v", i, err)
			}
		}
		p := svc.Snapshot()
		if len(seen) != 2 || p.Conflicts != 2 || p.Writes != 1 {
			t.Fatalf("ran %d concurrent writers; counters %+v", len(seen), p)
		}
		if !strings.Contains(string(p.Doc), `"writer":"iac1"`) {
			t.Fatalf("the concurrent change is lost: %s", p.Doc)
		}
	})
}

func TestMutate(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, _ := k.new(t)
		_, before := svc.Current()
		svc.Mutate(func(doc []byte) []byte { return nil })
		if _, now := svc.Current(); now != before {
			t.Fatal("a no-op Mutate changed the ETag")
		}
		svc.Mutate(func(doc []byte) []byte {
			return []byte(strings.Replace(string(doc), `"location":`, `"tags":{"drift":"yes"},"location":`, 1))
		})
		doc, now := svc.Current()
		var m map[string]any
		_ = json.Unmarshal(doc, &m)
		if now == before || !strings.Contains(string(doc), `"drift":"yes"`) || m["etag"] != now {
			t.Fatalf("Mutate: etag %q -> %q, doc %s", before, now, doc)
		}
		if svc.Writes() != 0 {
			t.Fatal("Mutate is not a PUT")
		}
	})
}

// Many clients read and conditionally write at once: every PUT either wins (a new,
// unique ETag) or gets a 412, and the counters add up. Run with -race.
func TestConcurrentConditionalWrites(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		svc, c := k.new(t)
		const workers, rounds = 8, 15
		var (
			mu        sync.Mutex
			wins      = map[string]bool{}
			conflicts int
			wg        sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				for range rounds {
					etag, err := c.get(context.Background(), k.name)
					if err != nil {
						t.Error(err)
						return
					}
					got, err := c.put(context.Background(), k.name, http.Header{"If-Match": {etag}})
					var re *azcore.ResponseError
					mu.Lock()
					switch {
					case err == nil:
						if wins[got] {
							t.Errorf("ETag %s handed out twice", got)
						}
						wins[got] = true
					case errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed:
						conflicts++
					default:
						t.Error(err)
					}
					mu.Unlock()
				}
			})
		}
		// Drift and readers at the same time.
		wg.Go(func() {
			for range rounds {
				svc.Mutate(func(doc []byte) []byte {
					return []byte(strings.Replace(string(doc), `"location":`, `"tags":{"drift":"x"},"location":`, 1))
				})
				svc.Current()
			}
		})
		wg.Wait()
		p := svc.Snapshot()
		if len(wins)+conflicts != workers*rounds || p.Writes != len(wins) || p.Conflicts != conflicts || p.Puts != workers*rounds {
			t.Fatalf("%d wins + %d conflicts of %d; counters %+v", len(wins), conflicts, workers*rounds, p)
		}
		if len(wins) == 0 {
			t.Fatal("no write ever won")
		}
	})
}

// Front Door writes of one policy in flight together each complete with their own
// result: the official fake would otherwise share one operation between them.
func TestFrontDoorWritesInFlightTogether(t *testing.T) {
	svc, c := kinds[1].new(t)
	const n = 12
	etags := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			etag, err := c.put(context.Background(), "wafGlobal", http.Header{})
			if err != nil {
				t.Error(err)
				return
			}
			etags <- etag
		})
	}
	wg.Wait()
	close(etags)
	seen := map[string]bool{}
	for e := range etags {
		seen[e] = true
	}
	p := svc.Snapshot()
	if len(seen) != n || p.Writes != n || p.Polls != 2*n {
		t.Fatalf("%d distinct results of %d writes; counters %+v", len(seen), n, p)
	}
}

func TestBadIDPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "not a appgw WAF policy id") {
			t.Fatalf("recovered %v", r)
		}
	}()
	armfake.NewAppGW(frontDoorID, armnetwork.WebApplicationFirewallPolicy{})
}
