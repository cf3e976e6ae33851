package record

import (
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

func TestCountOffences(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	target := "203.0.113.0/24"
	offences := []Offence{
		{Target: target, Time: base.Add(-48 * time.Hour), IncidentID: "inc-old", Action: "block_waf", Severity: "High"},
		{Target: target, Time: base, IncidentID: "inc-a", Action: "block_waf", Severity: "High"},
		{Target: target, Time: base.Add(time.Nanosecond), IncidentID: "inc-b", Action: "throttle", Severity: "Low"},
		{Target: target, Time: base.Add(time.Hour), IncidentID: "inc-c/1", Action: "block_waf", Severity: "High"},
		{Target: "2001:db8::/32", Time: base, IncidentID: "inc-other", Action: "block_waf"},
	}
	for _, o := range offences {
		if err := s.AddOffence(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Redelivery of the same incident writes the same row.
	if err := s.AddOffence(ctx, offences[1]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		since   time.Time
		exclude string
		want    int
	}{
		{"all", time.Time{}, "", 4},
		{"since is inclusive", base, "", 3},
		{"one ns later", base.Add(time.Nanosecond), "", 2},
		{"exclude the incident being decided", base, "inc-a", 2},
		{"exclude an escaped id", base, "inc-c/1", 2},
		{"exclude an unknown id", base, "inc-zzz", 3},
		{"after everything", base.Add(2 * time.Hour), "", 0},
	}
	for _, c := range cases {
		got, err := s.CountOffences(ctx, target, c.since, c.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: CountOffences = %d, want %d", c.name, got, c.want)
		}
	}
	if n, err := s.CountOffences(ctx, "198.51.100.1", time.Time{}, ""); n != 0 || err != nil {
		t.Errorf("unknown target: %d, %v", n, err)
	}
	if err := s.AddOffence(ctx, Offence{Target: target, Time: base}); fault.Of(err) != fault.Reject {
		t.Errorf("offence without incident: %v, want a rejection", err)
	}
}
