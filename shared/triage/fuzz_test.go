package triage

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// FuzzClassify: any inventory (policies from the fuzzer, garbage included, at any scope;
// the rest shaped by the bits of shape) classifies without panic, deterministically,
// ranking every API exactly once with one priority, four signals and a reason, and
// compares with itself without a change.
func FuzzClassify(f *testing.F) {
	docs := []string{"", polBase, polNoBase, polJWT, polChooseJWT, polFragment, polGarbage, polRateLimit}
	for i, c := range authCases {
		f.Add(c.global, c.api, c.ops[0], c.ops[1], uint64(i)*0x9E3779B97F4A7C15)
	}
	for i, d := range docs {
		f.Add(d, docs[(i+1)%len(docs)], docs[(i+3)%len(docs)], "<policies><inbound><base", ^uint64(i))
	}
	f.Add("\xEF\xBB\xBF<policies>", "<inbound/>", "@(", "<!--", uint64(0))
	f.Fuzz(func(t *testing.T, a, b, c, d string, shape uint64) {
		inv := fuzzInventory([4]string{a, b, c, d}, shape)
		opts := Options{SensitiveTags: []string{"pii"}, OwnFragments: []string{"apiguard"}, BatchSize: int(shape>>60) % 4}
		got := Classify(inv, nil, opts)
		checkClassification(t, inv, got)
		if again := Classify(inv, nil, opts); !reflect.DeepEqual(got, again) {
			t.Fatal("two runs on the same inventory differ")
		}
		if next := Classify(inv, &got, opts); len(next.Changes) != 0 {
			t.Fatalf("the same inventory a month later changed: %+v", next.Changes)
		}
	})
}

// bits hands out the bits of a shape.
type bits struct{ v uint64 }

func (b *bits) take(n uint) int {
	x := int(b.v & (1<<n - 1))
	b.v = b.v>>n | b.v<<(64-n) // rotate: the bits go round again
	return x
}

func fuzzInventory(docs [4]string, shape uint64) Inventory {
	b := &bits{shape}
	policy := func() Policy {
		switch k := b.take(3); k {
		case 0:
			return Policy{}
		case 1:
			return Policy{Unread: true}
		default:
			return Policy{Found: true, XML: docs[k%4]}
		}
	}
	inv := Inventory{Collected: collected}
	if b.take(1) == 1 {
		inv.WatchingSince = collected.Add(-time.Duration(b.take(8)) * day)
	}
	for s := range 1 + b.take(1) {
		svc := Service{
			ID:       fmt.Sprintf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-%d", s),
			Name:     fmt.Sprintf("apim-%d", s),
			Network:  []string{"None", "External", "Internal", ""}[b.take(2)],
			Defender: DefenderState{Collections: b.take(1) == 1, PlanOff: b.take(2) == 0},
			Global:   policy(),
		}
		if k := b.take(2); k > 0 {
			c := float64(k * 30)
			svc.Capacity = &c
		}
		for p := range b.take(2) {
			svc.Products = append(svc.Products, Product{
				Name:                 fmt.Sprintf("p%d", p),
				State:                []string{"published", "notPublished"}[b.take(1)],
				SubscriptionRequired: b.take(1) == 1,
				Policy:               policy(),
			})
		}
		for i := range 1 + b.take(2) {
			name := fmt.Sprintf("api%d", i)
			if b.take(3) == 0 {
				name += ";rev=2"
			}
			api := API{ID: svc.ID + "/apis/" + name, Name: name, SubscriptionRequired: b.take(1) == 1, Policy: policy()}
			for p := range svc.Products {
				switch b.take(2) {
				case 1:
					svc.Products[p].APIs = append(svc.Products[p].APIs, name)
				case 2:
					api.Products = append(api.Products, svc.Products[p].Name)
				}
			}
			if b.take(1) == 1 {
				api.Tags = []string{"PII"}
			}
			if b.take(1) == 1 {
				api.LastSeen = collected.Add(-time.Duration(b.take(8)-16) * day)
			}
			for o := range b.take(2) {
				op := Operation{Name: fmt.Sprintf("op%d", o), URLTemplate: []string{"/", "/{id}", "/{", "/{x}/{orderId}"}[b.take(2)], Policy: policy()}
				if b.take(1) == 1 {
					op.LastSeen = collected.Add(-time.Duration(b.take(7)) * day)
				}
				api.Operations = append(api.Operations, op)
				if b.take(2) == 0 {
					api.Assessments = append(api.Assessments, Assessment{Key: AssessmentUnused, Operation: api.ID + "/operations/" + op.Name,
						Status: []string{"Healthy", "Unhealthy"}[b.take(1)]})
				}
			}
			if b.take(1) == 1 {
				n := b.take(3)
				api.Defender = &Collection{
					ProvisioningState: []string{"", "Succeeded", "Failed", "InProgress"}[b.take(2)],
					Endpoints:         n, Inactive: b.take(3), External: b.take(2), Unauthenticated: b.take(2), SensitiveData: b.take(1),
				}
			}
			svc.APIs = append(svc.APIs, api)
		}
		inv.Services = append(inv.Services, svc)
	}
	return inv
}

// checkClassification checks what holds for any inventory.
func checkClassification(t *testing.T, inv Inventory, c Classification) {
	t.Helper()
	want := map[string]int{}
	for _, s := range inv.Services {
		for _, a := range s.APIs {
			want[a.ID]++
		}
	}
	got := map[string]int{}
	counts := map[Priority]int{}
	for _, r := range c.APIs {
		got[r.API]++
		if !slices.Contains(Priorities(), r.Priority) {
			t.Fatalf("%s: priority %q", r.Name, r.Priority)
		}
		counts[r.Priority]++
		if len(r.Rules) == 0 || r.Reason == "" {
			t.Fatalf("%s: rules %v reason %q", r.Name, r.Rules, r.Reason)
		}
		if !slices.Equal(signalNames(r), []string{SignalExternal, SignalAuthenticated, SignalSensitive, SignalInactive}) {
			t.Fatalf("%s: signals %v", r.Name, signalNames(r))
		}
		for _, s := range r.Signals {
			if s.Source == "" {
				t.Fatalf("%s: signal %s has no source", r.Name, s.Name)
			}
		}
		if ext := r.Signals[0]; !ext.Known && !ext.Value {
			t.Fatalf("%s: unknown exposure not taken as external", r.Name)
		}
		if auth := r.Signals[1]; !auth.Known && auth.Value {
			t.Fatalf("%s: unknown authentication taken as authenticated", r.Name)
		}
		if r.Candidate && r.Priority == Decommission {
			t.Fatalf("%s: a candidate ranked Decommission", r.Name)
		}
		for _, rec := range r.Recommendations {
			if rec.Kind == RecommendDeprecate && r.Priority != Decommission {
				t.Fatalf("%s: deprecation proposed for a %s API", r.Name, r.Priority)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ranked %v, want each API once: %v", got, want)
	}
	for _, p := range Priorities() {
		if c.Counts[p] != counts[p] {
			t.Fatalf("counts %v, ranked %v", c.Counts, counts)
		}
	}
}
