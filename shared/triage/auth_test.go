package triage

import (
	"strings"
	"testing"
)

// TestAuthenticated: one case per way the gateway lets a call in (cases_test.go).
func TestAuthenticated(t *testing.T) {
	for _, c := range authCases {
		t.Run(c.name, func(t *testing.T) {
			inv := c.inventory()
			got := Classify(inv, nil, Options{OwnFragments: c.own})
			r := got.APIs[0]
			s := signal(t, r, SignalAuthenticated)
			if w := signalWord(s); w != c.want {
				t.Errorf("authenticated = %s, want %s\nsource: %s", w, c.want, s.Source)
			}
			if c.want == "unknown" && s.Value {
				t.Errorf("unknown authentication ranked as authenticated: the cautious side is unauthenticated")
			}
			if !strings.Contains(s.Source, c.source) {
				t.Errorf("source\n got %s\nwant it to contain %s", s.Source, c.source)
			}
			if s.Inferred {
				t.Errorf("authentication is read from the configuration, never inferred")
			}
			if (len(got.Gaps) > 0) != c.gapWanted {
				t.Errorf("gaps %+v, want a gap: %v", got.Gaps, c.gapWanted)
			}
			var over []string
			for _, rec := range r.Recommendations {
				if rec.Kind == RecommendValidateJWT && strings.Contains(rec.Text, "no <base />") {
					over = append(over, rec.Text)
				}
			}
			if (len(over) > 0) != (len(c.overriding) > 0) {
				t.Errorf("validate-jwt recommendation naming overriding operations: %q, want %v", over, c.overriding)
			}
			for _, op := range c.overriding {
				if len(over) > 0 && !strings.Contains(over[0], op) {
					t.Errorf("validate-jwt recommendation %q does not name operation %s", over[0], op)
				}
			}
		})
	}
}

// signal returns the named signal of r.
func signal(t testing.TB, r Ranked, name string) Signal {
	t.Helper()
	for _, s := range r.Signals {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s has no %s signal: %+v", r.Name, name, r.Signals)
	return Signal{}
}
