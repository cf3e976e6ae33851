package triage

import (
	"reflect"
	"strings"
	"testing"
)

func TestChanges(t *testing.T) {
	last := inventoryOf(
		spec{name: "gone", ext: true},
		spec{name: "rising", ext: true, auth: true}, // P1
		spec{name: "falling", ext: true},            // P0
		spec{name: "fixed", ext: true},              // P0
		spec{name: "fading", ext: true, auth: true}, // P1
		spec{name: "dozing", ext: true, auth: true}, // P1
		spec{name: "waking", idl: true, auth: true}, // Decommission
		spec{name: "steady", ext: true, sens: true}, // P0
		spec{name: "quiet"},                         // P3
	)
	prev := Classify(last, nil, Options{SensitiveTags: []string{"pii"}, Month: "2026-11"})
	for i := range prev.APIs {
		prev.APIs[i].API = strings.ToUpper(prev.APIs[i].API) // ARM ids compare case-insensitively
	}

	now := inventoryOf(
		spec{name: "rising", ext: true},              // P0
		spec{name: "falling", ext: true, auth: true}, // P1
		spec{name: "fixed"},                          // P3
		spec{name: "fading", idl: true, auth: true},  // Decommission
		spec{name: "dozing", ext: true, auth: true},  // P1, candidate below
		spec{name: "waking", ext: true, auth: true},  // P1
		spec{name: "steady", ext: true, sens: true},
		spec{name: "quiet"},
		spec{name: "fresh", ext: true},
	)
	dozing := &now.Services[0].APIs[4]
	dozing.LastSeen = collected.Add(-40 * day)
	dozing.Defender = &Collection{Endpoints: 2, Inactive: 2, External: 0}
	now.Services[0].Network = "None"
	got := Classify(now, &prev, Options{SensitiveTags: []string{"pii"}})

	if got.Previous != "2026-11" {
		t.Errorf("Previous = %q", got.Previous)
	}
	type row struct{ Name, Kind, From, To, Signal string }
	var rows []row
	for _, c := range got.Changes {
		rows = append(rows, row{c.Name, c.Kind, string(c.From), string(c.To), c.Signal})
	}
	want := []row{
		{"fresh", ChangeNew, "", "P0", ""},
		{"rising", ChangeRose, "P1", "P0", "authenticated: true -> false"},
		{"waking", ChangeRose, "Decommission", "P1", "inactive: true -> false"},
		{"falling", ChangeFell, "P0", "P1", "authenticated: false -> true"},
		{"fixed", ChangeResolved, "P0", "P3", "external: true -> false"},
		{"dozing", ChangeNewlyInactive, "P1", "P1", "candidate: false -> true"},
		{"fading", ChangeNewlyInactive, "P1", "Decommission", "inactive: false -> true"},
		{"gone", ChangeRemoved, "P0", "", ""},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("changes\n got %+v\nwant %+v", rows, want)
	}
	if c := Classify(now, nil, Options{}); c.Changes != nil || c.Previous != "" {
		t.Errorf("first run: changes %v previous %q", c.Changes, c.Previous)
	}
}
