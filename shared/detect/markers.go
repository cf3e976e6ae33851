package detect

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apiguard/apiguard/shared/detect/probe"
	"github.com/apiguard/apiguard/shared/vocab"
)

// maxMarks bounds the distinct probe markers a window keeps per key. The default
// threshold is reached with two or three; sixteen show what a scanner tried.
const maxMarks = 16

// mark is one distinct probe marker (shared/detect/probe) a key's requests carried in a
// window. It is stored by the pattern's Key, which is stable across versions of the
// data, where its id moves when lines are added before it.
type mark struct {
	key    uint64
	weight uint8
	class  probe.Class
}

// markTally is a window's probe markers: distinct patterns (up to maxMarks, the
// heaviest kept), and how many requests carried at least one.
type markTally struct {
	m    []mark
	reqs uint32
}

func (t *markTally) empty() bool { return t == nil || (len(t.m) == 0 && t.reqs == 0) }

// add unions marks into t, keeping the maxMarks heaviest when over.
func (t *markTally) add(ms []mark) {
	for _, m := range ms {
		if slices.ContainsFunc(t.m, func(o mark) bool { return o.key == m.key }) {
			continue
		}
		if len(t.m) < maxMarks {
			t.m = append(t.m, m)
			continue
		}
		lightest := 0
		for i := range t.m {
			if t.m[i].weight < t.m[lightest].weight {
				lightest = i
			}
		}
		if m.weight > t.m[lightest].weight {
			t.m[lightest] = m
		}
	}
}

func (t *markTally) merge(o *markTally) {
	t.add(o.m)
	t.reqs = addU32(t.reqs, o.reqs)
}

func (t *markTally) clone() *markTally {
	if t.empty() {
		return nil
	}
	return &markTally{m: slices.Clone(t.m), reqs: t.reqs}
}

// weight is the sum of the distinct markers' weights: each pattern counts once,
// however often it was sent.
func (t *markTally) weight() int {
	w := 0
	for _, m := range t.m {
		w += int(m.weight)
	}
	return w
}

// markerIndex is what a compiled configuration knows of the probe data: the matcher,
// and each pattern by its stable key (for evidence).
type markerIndex struct {
	m     *probe.Matcher
	byKey map[uint64]probe.Pattern
}

// defaultMarkers indexes the embedded probe data once per process.
var defaultMarkers = sync.OnceValue(func() *markerIndex { return newMarkerIndex(probe.Default()) })

func newMarkerIndex(m *probe.Matcher) *markerIndex {
	x := &markerIndex{m: m, byKey: make(map[uint64]probe.Pattern, m.Len())}
	for _, p := range m.Patterns() {
		x.byKey[p.Key] = p
	}
	return x
}

// maxAgentCache bounds the user agents whose markers an aggregator remembers between
// records: a batch has a few hundred distinct agents, a scanner rotating its agent
// thousands.
const maxAgentCache = 4096

// marks fills a.mk with the distinct markers of r: its path and query scanned for each
// record, its user agent once per distinct agent.
func (a *aggregator) marks(path, query, agent string) []mark {
	a.mk = a.mk[:0]
	var h probe.Hits
	a.c.markers.m.Match(path, query, "", &h)
	for _, hit := range h.All() {
		a.mk = appendMark(a.mk, a.c.markers.m.Pattern(hit.Pattern))
	}
	if agent == "" {
		return a.mk
	}
	ua := a.agent(agent)
	for _, m := range ua.marks {
		a.mk = appendMark(a.mk, probe.Pattern{Key: m.key, Weight: m.weight, Class: m.class})
	}
	return a.mk
}

// agentInfo is what an aggregator remembers of a user agent between records.
type agentInfo struct {
	marks []mark // its probe markers
	h     uint32 // its hash, for agentTally
}

// agent returns what is known of a user agent, working it out on first sight.
func (a *aggregator) agent(agent string) agentInfo {
	if ua, ok := a.agents[agent]; ok {
		return ua
	}
	ua := agentInfo{h: uint32(hashString(seedIdent+2, agent))}
	if agent != "" {
		var h probe.Hits
		a.c.markers.m.Match("", "", agent, &h)
		for _, hit := range h.All() {
			ua.marks = appendMark(ua.marks, a.c.markers.m.Pattern(hit.Pattern))
		}
	}
	if a.agents == nil || len(a.agents) >= maxAgentCache {
		a.agents = make(map[string]agentInfo, 64)
	}
	a.agents[strings.Clone(agent)] = ua
	return ua
}

func appendMark(ms []mark, p probe.Pattern) []mark {
	for _, m := range ms {
		if m.key == p.Key {
			return ms
		}
	}
	return append(ms, mark{key: p.Key, weight: p.Weight, class: p.Class})
}

// detectMarkers: a key whose requests carried probe markers (sensitive files,
// traversal, injection payloads, admin interfaces, web shells, scanner user agents)
// of a total weight of at least Probing.MarkerWeight, each distinct marker counted
// once. Scanners are found in a handful of requests, where counting error paths needs
// many. A shared key's markers are judged on its users' own keys.
func detectMarkers(ev *evaluation, v *view) {
	w := v.w
	if w.x == nil || w.x.marks.empty() || v.shared != nil {
		return
	}
	t := ev.cfg.Probing.MarkerWeight
	wt := w.x.marks.weight()
	if wt < t {
		return
	}
	start, end := w.start, w.start+int64(w.size)
	found := ev.p.c.markers.describe(w.x.marks.m)
	ev.emit(vocab.DetectorProbing, v, start, end, "markers", Finding{
		Confidence: confidence(float64(wt), float64(t)),
		Severity:   severity(float64(wt), float64(t), vocab.SeverityUnknown),
		Evidence: Evidence{Measure: "probe_marker_weight", Count: int64(wt), Threshold: float64(t), Requests: int64(w.n.req),
			Markers: found},
		Reason: fmt.Sprintf("%s sent %d requests carrying %d distinct probe markers (%s) in the %s: a scanner (weight %d, threshold %d).",
			ev.who(), w.x.marks.reqs, len(w.x.marks.m), classList(w.x.marks.m), windowText(start, end), wt, t),
	})
}

// describe names the markers for evidence: class, weight and text, heaviest first.
func (x *markerIndex) describe(ms []mark) []Marker {
	out := make([]Marker, 0, len(ms))
	for _, m := range ms {
		mk := Marker{Class: m.class.Name(), Weight: int(m.weight)}
		if p, ok := x.byKey[m.key]; ok {
			mk.Text = p.Text
		}
		out = append(out, mk)
	}
	slices.SortStableFunc(out, func(a, b Marker) int {
		if a.Weight != b.Weight {
			return b.Weight - a.Weight
		}
		return strings.Compare(a.Class+a.Text, b.Class+b.Text)
	})
	return out
}

// classList names the classes of ms, in the classes' order.
func classList(ms []mark) string {
	var set probe.ClassSet
	for _, m := range ms {
		set |= 1 << m.class
	}
	var names []string
	for _, c := range probe.Classes() {
		if set.Has(c) {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}
