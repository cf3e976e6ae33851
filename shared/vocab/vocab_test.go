package vocab

import "testing"

func TestSeverityRanks(t *testing.T) {
	for i, s := range Severities() {
		if s.Rank() != i || !s.Known() {
			t.Errorf("%s: rank %d known %v, want rank %d", s, s.Rank(), s.Known(), i)
		}
	}
	// What apiguard cannot read ranks as Medium, as its durations default to Medium's.
	for _, s := range []Severity{SeverityUnknown, SeverityNotGiven, "Critical"} {
		if s.Rank() != SeverityMedium.Rank() || s.Known() {
			t.Errorf("%q: rank %d known %v", s, s.Rank(), s.Known())
		}
	}
}

func TestDetectorAlertTypes(t *testing.T) {
	for _, d := range Detectors() {
		got, ok := DetectorOf(AlertType(d))
		if !ok || got != d {
			t.Errorf("%s: alert type %s reads back as %q %v", d, AlertType(d), got, ok)
		}
	}
	for _, at := range []string{"API_SpikeInAPITraffic", "apiguard.", "apiguard", ""} {
		if d, ok := DetectorOf(at); ok {
			t.Errorf("%q read as detector %q", at, d)
		}
	}
}

func TestActions(t *testing.T) {
	for _, a := range EnforcingActions() {
		if !a.Enforcing() {
			t.Errorf("%s listed as enforcing", a)
		}
		if _, ok := ParseAction(string(a), PlaybookActions()); !ok {
			t.Errorf("%s cannot be named in the playbook", a)
		}
	}
	for _, a := range []Action{Record, Skip, Deferred} {
		if a.Enforcing() || a.Blocking() {
			t.Errorf("%s enforces", a)
		}
	}
	if _, ok := ParseAction("skip", PlaybookActions()); ok {
		t.Error("skip accepted as a playbook action")
	}
	if Throttle.Blocking() || !BlockWAF.Blocking() || !BlockAPIM.Blocking() {
		t.Error("only blocks count against the cap")
	}
}
