package trafficsim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Flag is a detector's verdict on a key: a finding, reduced to what scoring needs.
type Flag struct {
	Key      Key
	Detector string
}

// Result scores a set of flags against a scenario's labels (see Score).
type Result struct {
	// Flagged is the number of distinct keys flagged, victims' identities left out.
	Flagged int
	// TruePositives is the number of distinct attacker keys flagged.
	TruePositives int
	// FalsePositives are the distinct flagged keys that are no attacker's, with the
	// population they belong to and the detectors that flagged them.
	FalsePositives []KeyFlags
	// VictimFlags are flags on identities an attacker used (guessed or stuffed
	// accounts): neither hits nor false positives (a lockout, not a block of a client).
	VictimFlags []KeyFlags
	// Precision is TruePositives / Flagged; 1 when nothing is flagged.
	Precision float64

	Attackers int // attackers in the scenario
	Found     int // attackers with at least one key flagged, by any detector
	// Recall is Found / Attackers; 1 when there are none.
	Recall float64
	// Classes breaks recall down by attacker class.
	Classes map[Class]ClassResult
	// Missed are the attackers none of whose keys was flagged.
	Missed []Attacker
	// Detectors counts, per detector, the distinct keys it flagged that are
	// attackers' (TruePositives) and that are not (FalsePositives).
	Detectors map[string]DetectorResult
}

// KeyFlags is a flagged key, who it belongs to and which detectors flagged it.
type KeyFlags struct {
	Key Key
	// Population is the ordinary population of the key (Scenario.Benign), PopVictim
	// for a victim's identity, or "unknown" for a key that appears in no record.
	Population Population
	Detectors  []string
}

// ClassResult is recall for one attacker class.
type ClassResult struct {
	Attackers, Found int
}

func (c ClassResult) Recall() float64 { return ratio(c.Found, c.Attackers) }

// DetectorResult counts one detector's flagged keys.
type DetectorResult struct {
	TruePositives, FalsePositives int
}

// PopUnknown is the population of a flagged key that appears in no record.
const PopUnknown Population = "unknown"

// Score compares flags with the scenario's labels.
//
//   - Precision is over flagged keys: a key flagged by several detectors, or
//     several times, counts once. A flagged key is a hit when it is one of an
//     attacker's Keys, a false positive otherwise (whatever the detector), and
//     neither when it is a victim's identity.
//   - Recall is over attackers: an attacker is found when any of its keys is
//     flagged, by any detector. Per class as well.
//
// Flags carry no time: a known client whose spike is an attack is an attacker key
// for the whole scenario.
func Score(s *Scenario, flagged []Flag) Result {
	attackerKey := map[Key]bool{}
	victim := map[Key]bool{}
	for _, a := range s.Attackers {
		for _, k := range a.Keys {
			attackerKey[k] = true
		}
		for _, k := range a.Victims {
			victim[k] = true
		}
	}
	byKey := map[Key][]string{}
	for _, f := range flagged {
		if !slices.Contains(byKey[f.Key], f.Detector) {
			byKey[f.Key] = append(byKey[f.Key], f.Detector)
		}
	}
	res := Result{Classes: map[Class]ClassResult{}, Detectors: map[string]DetectorResult{}}
	for _, k := range slices.SortedFunc(maps.Keys(byKey), compareKeys) {
		dets := byKey[k]
		slices.Sort(dets)
		switch {
		case attackerKey[k]:
			res.Flagged++
			res.TruePositives++
			for _, d := range dets {
				dr := res.Detectors[d]
				dr.TruePositives++
				res.Detectors[d] = dr
			}
		case victim[k]:
			res.VictimFlags = append(res.VictimFlags, KeyFlags{k, PopVictim, dets})
		default:
			res.Flagged++
			pop, ok := s.Benign[k]
			if !ok {
				pop = PopUnknown
			}
			res.FalsePositives = append(res.FalsePositives, KeyFlags{k, pop, dets})
			for _, d := range dets {
				dr := res.Detectors[d]
				dr.FalsePositives++
				res.Detectors[d] = dr
			}
		}
	}
	for _, a := range s.Attackers {
		res.Attackers++
		c := res.Classes[a.Class]
		c.Attackers++
		found := slices.ContainsFunc(a.Keys, func(k Key) bool { return byKey[k] != nil })
		if found {
			res.Found++
			c.Found++
		} else {
			res.Missed = append(res.Missed, a)
		}
		res.Classes[a.Class] = c
	}
	res.ratios()
	return res
}

func (r *Result) ratios() {
	r.Precision = ratio(r.TruePositives, r.Flagged)
	r.Recall = ratio(r.Found, r.Attackers)
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 1
	}
	return float64(n) / float64(d)
}

// Add pools another scenario's result into r (micro-averaged: precision and recall
// over the summed counts), for a score over many seeds.
func (r *Result) Add(o Result) {
	r.Flagged += o.Flagged
	r.TruePositives += o.TruePositives
	r.FalsePositives = append(r.FalsePositives, o.FalsePositives...)
	r.VictimFlags = append(r.VictimFlags, o.VictimFlags...)
	r.Attackers += o.Attackers
	r.Found += o.Found
	r.Missed = append(r.Missed, o.Missed...)
	if r.Classes == nil {
		r.Classes = map[Class]ClassResult{}
	}
	for c, v := range o.Classes {
		w := r.Classes[c]
		w.Attackers += v.Attackers
		w.Found += v.Found
		r.Classes[c] = w
	}
	if r.Detectors == nil {
		r.Detectors = map[string]DetectorResult{}
	}
	for d, v := range o.Detectors {
		w := r.Detectors[d]
		w.TruePositives += v.TruePositives
		w.FalsePositives += v.FalsePositives
		r.Detectors[d] = w
	}
	r.ratios()
}

// String is a readable summary: the ratios, every false positive with its
// population, every missed attacker with what it did.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "precision %.3f (%d of %d flagged keys), recall %.3f (%d of %d attackers)",
		r.Precision, r.TruePositives, r.Flagged, r.Recall, r.Found, r.Attackers)
	for _, c := range Classes() {
		if v, ok := r.Classes[c]; ok {
			fmt.Fprintf(&b, "\n  %-22s %d/%d", c, v.Found, v.Attackers)
		}
	}
	for _, fp := range r.FalsePositives {
		fmt.Fprintf(&b, "\n  false positive: %v (%s) by %s", fp.Key, fp.Population, strings.Join(fp.Detectors, ", "))
	}
	for _, v := range r.VictimFlags {
		fmt.Fprintf(&b, "\n  victim flagged: %v by %s", v.Key, strings.Join(v.Detectors, ", "))
	}
	for _, a := range r.Missed {
		fmt.Fprintf(&b, "\n  missed: %s %v at %s: %s", a.Class, a.Keys, a.Start.Format("15:04:05"), a.Note)
	}
	return b.String()
}
