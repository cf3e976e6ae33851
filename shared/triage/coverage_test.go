package triage

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// coverageInventory: one service with collections read, 60 days of apiguard evidence and
// 12 APIs: a00 and a01 never seen, a02 to a09 seen 9 to 4 days ago, a04 to a06 on the
// same day with 1, 3 and 2 operations; a10 seen 120 days ago; a11 onboarded.
func coverageInventory(capacity *float64) Inventory {
	inv := inventoryOf()
	inv.WatchingSince = collected.Add(-60 * day)
	svc := &inv.Services[0]
	svc.Defender.Collections = true
	svc.Capacity = capacity
	for i := range 12 {
		api := API{ID: fmt.Sprintf("%s/apis/a%02d", svc.ID, i), Name: fmt.Sprintf("a%02d", i), SubscriptionRequired: true,
			Operations: []Operation{{Name: "get", URLTemplate: "/"}}}
		if ago := []int{0, 0, 9, 8, 7, 7, 7, 6, 5, 4, 120, 1}[i]; ago > 0 {
			api.LastSeen = collected.Add(-day * time.Duration(ago))
		}
		switch i {
		case 4:
			api.Operations = append(api.Operations, api.Operations[0])[:1]
		case 5:
			api.Operations = append(api.Operations, api.Operations[0], api.Operations[0])
		case 6:
			api.Operations = append(api.Operations, api.Operations[0])
		case 11:
			api.Defender = &Collection{Endpoints: 1}
		}
		svc.APIs = append(svc.APIs, api)
	}
	return inv
}

func ids(inv Inventory, names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, inv.Services[0].ID+"/apis/"+n)
	}
	return out
}

func TestCoverage(t *testing.T) {
	low, high, edge := 35.0, 75.0, 60.0
	inv := coverageInventory(&low)
	c := Classify(inv, nil, Options{BatchSize: 4})
	want := Coverage{
		NotOnboarded: ids(inv, "a00", "a01", "a02", "a03", "a04", "a05", "a06", "a07", "a08", "a09", "a10"),
		Batches: [][]string{
			ids(inv, "a00", "a01", "a10", "a02"), // never seen, then seen longest ago
			ids(inv, "a03", "a04", "a06", "a05"), // a04 to a06 on the same day: fewer operations first
			ids(inv, "a07", "a08", "a09"),        // seen most recently: heaviest, last
		},
	}
	want.Next = want.Batches[0]
	if !reflect.DeepEqual(c.Coverage, want) {
		t.Errorf("coverage\n got %+v\nwant %+v", c.Coverage, want)
	}

	// With 200 days of evidence, a00, a01 (never seen) and a10 are Decommission: listed,
	// not planned.
	inv.WatchingSince = collected.Add(-200 * day)
	c = Classify(inv, nil, Options{BatchSize: 4})
	want.Batches = [][]string{ids(inv, "a02", "a03", "a04", "a06"), ids(inv, "a05", "a07", "a08", "a09")}
	want.Next = want.Batches[0]
	if !reflect.DeepEqual(c.Coverage, want) || c.Counts[Decommission] != 3 {
		t.Errorf("coverage with Decommission APIs\n got %+v\nwant %+v", c.Coverage, want)
	}

	if c := Classify(inv, nil, Options{}); len(c.Coverage.Batches) != 2 || len(c.Coverage.Batches[0]) != DefaultBatchSize {
		t.Errorf("default batch size: %v", c.Coverage.Batches)
	}

	for _, w := range []struct {
		name     string
		capacity *float64
		planOff  bool
		want     string
	}{
		{"capacity unread", nil, false, "service apim: its capacity was not read"},
		{"capacity high", &high, false, "service apim: gateway capacity 75% is at or above 60%"},
		{"capacity at the limit", &edge, false, "gateway capacity 60% is at or above 60%"},
		{"plan off", &low, true, "service apim: Defender for APIs is not enabled on subscription"},
	} {
		t.Run(w.name, func(t *testing.T) {
			inv := coverageInventory(w.capacity)
			inv.Services[0].Defender.PlanOff = w.planOff
			c := Classify(inv, nil, Options{})
			if c.Coverage.Next != nil || !strings.Contains(c.Coverage.Waiting, w.want) || len(c.Coverage.Batches) == 0 {
				t.Errorf("next %v waiting %q, want none and %q", c.Coverage.Next, c.Coverage.Waiting, w.want)
			}
		})
	}

	// MaxCapacity is an option.
	if c := Classify(coverageInventory(&high), nil, Options{MaxCapacity: 80}); c.Coverage.Next == nil {
		t.Errorf("capacity 75%% under MaxCapacity 80%%: waiting %q", c.Coverage.Waiting)
	}
}

// TestCoverageServices: a service that waits does not hold back another that can take
// its batch; one whose collections were not read is in no list.
func TestCoverageServices(t *testing.T) {
	low := 10.0
	a := coverageInventory(nil)
	b := coverageInventory(&low)
	b.Services[0].Name = "apim-b"
	b.Services[0].ID += "-b"
	for i := range b.Services[0].APIs {
		b.Services[0].APIs[i].ID = strings.Replace(b.Services[0].APIs[i].ID, "/service/apim/", "/service/apim-b/", 1)
	}
	unread := coverageInventory(&low)
	unread.Services[0].Name = "apim-c"
	unread.Services[0].Defender.Collections = false
	a.Services = append(a.Services, b.Services[0], unread.Services[0])
	c := Classify(a, nil, Options{})
	if len(c.Coverage.NotOnboarded) != 22 || len(c.Coverage.Batches) != 6 {
		t.Errorf("%d not onboarded in %d batches, want 22 in 6", len(c.Coverage.NotOnboarded), len(c.Coverage.Batches))
	}
	if len(c.Coverage.Next) == 0 || !strings.Contains(c.Coverage.Next[0], "/service/apim-b/") {
		t.Errorf("next %v, want apim-b's first batch", c.Coverage.Next)
	}
	if !strings.Contains(c.Coverage.Waiting, "service apim: its capacity was not read") || strings.Contains(c.Coverage.Waiting, "apim-c") {
		t.Errorf("waiting %q", c.Coverage.Waiting)
	}
}
