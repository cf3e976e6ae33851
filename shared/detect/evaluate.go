package detect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Which windows of a state to evaluate.
const (
	evalCur  = 1 << 0
	evalPrev = 1 << 1
)

// Evaluate runs every enabled detector on one key's state and returns its findings,
// sorted. pop holds the states of operation keys (other keys in it are ignored): rate
// spike and exfiltration compare a key with the population of the operations it used.
// Both the current window and the previous one (which may have taken late records) are
// judged; rate spike and exfiltration judge the current window only, the previous one
// being part of their baseline already. Evaluate is pure: no clock, no I/O.
func Evaluate(cfg *Config, k Key, s *State, pop map[Key]*State) []Finding {
	ev := evaluation{cfg: cfg, p: prepare(cfg), pop: pop}
	return ev.run(k, s, evalCur|evalPrev)
}

// prepared is what evaluation reads of a Config, worked out once per engine.
type prepared struct {
	enabled uint8 // bit i: detectors[i] runs
	minEnum int   // the lowest enumeration threshold of any template
	c       *compiled
}

func prepare(cfg *Config) *prepared {
	p := &prepared{minEnum: cfg.Enumeration.Threshold, c: compile(cfg)}
	for i, d := range detectors {
		if cfg.enabled(d.name) {
			p.enabled |= 1 << i
		}
	}
	for _, n := range cfg.Enumeration.Overrides {
		p.minEnum = min(p.minEnum, n)
	}
	return p
}

// run judges one key: ev.key, ev.s and ev.out are reset, the rest is kept.
func (ev *evaluation) run(k Key, s *State, which int) []Finding {
	if s == nil || s.Empty() || k.Type == vocab.KeyOp {
		return nil
	}
	ev.key, ev.s, ev.out = k, s, nil
	if which&evalCur != 0 {
		ev.window(&s.cur, true)
	}
	if which&evalPrev != 0 && s.prev != nil {
		ev.window(s.prev, false)
	}
	out := ev.out
	ev.out = nil
	if len(out) == 0 {
		return nil
	}
	if cfg := ev.cfg; cfg.MinConfidence > 0 {
		out = slices.DeleteFunc(out, func(f Finding) bool { return f.Confidence < cfg.MinConfidence })
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(a.WindowStart.Compare(b.WindowStart), cmp.Compare(a.Detector, b.Detector),
			cmp.Compare(a.KeyType, b.KeyType), cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
	})
}

type evaluation struct {
	cfg *Config
	p   *prepared
	key Key
	s   *State
	pop map[Key]*State    // Evaluate: states by key
	ops map[string]*State // the engine: operation states by key value
	out []Finding
}

// popState is the state of the operation key value op, or nil.
func (ev *evaluation) popState(op string) *State {
	if ev.ops != nil {
		return ev.ops[op]
	}
	return ev.pop[Key{vocab.KeyOp, op}]
}

// view is one window as the detectors judge it. For a shared key (README.md, "Shared
// addresses") every measure is the part of the traffic that carried no narrower
// identity; distinct counts then use a lower bound (the distinct count of all traffic
// minus the identified requests that could have contributed to it), so the anonymous
// part is never overstated.
type view struct {
	w       *Delta
	current bool
	shared  *Shared
	n       counts // judged counts
}

func (ev *evaluation) window(w *Delta, current bool) {
	v := view{w: w, current: current, n: w.n}
	if sh := ev.sharedOf(w); sh != nil {
		v.shared = sh
		v.n = w.n.minus(w.x.id)
	}
	for i, d := range detectors {
		if ev.p.enabled&(1<<i) == 0 || (d.currentOnly && !current) {
			continue
		}
		d.run(ev, &v)
	}
}

// sharedOf says whether w's key is shared in that window: at least MinIdentities
// narrower identities, carried by at least MinIdentifiedShare of its requests. Only
// addresses (narrower: users, else subscriptions) and subscriptions (narrower: users)
// can be shared; a user is the narrowest identity.
func (ev *evaluation) sharedOf(w *Delta) *Shared {
	if ev.key.Type != vocab.KeyIP && ev.key.Type != vocab.KeySubscription {
		return nil
	}
	if w.x == nil || w.n.req == 0 {
		return nil
	}
	share := float64(w.x.id.req) / float64(w.n.req)
	if share < ev.cfg.Shared.MinIdentifiedShare {
		return nil
	}
	// The union of two exact sketches has at most their sizes together.
	if x := w.x; !x.failing.sat && !x.ok.sat && len(x.failing.h)+len(x.ok.h) < ev.cfg.Shared.MinIdentities {
		return nil
	}
	ids, _, _ := w.x.identities()
	if ids < ev.cfg.Shared.MinIdentities {
		return nil
	}
	return &Shared{Identities: ids, IdentifiedShare: float64(int(share*1000)) / 1000}
}

// judgedDistinct is a distinct count as judged: for a shared key, a lower bound of the
// anonymous part (a lower bound of the whole, less every identified request that could
// have added to it).
func (v *view) judgedDistinct(d *distinct, identified uint32) int {
	if v.shared == nil {
		return d.count()
	}
	return max(d.lowerBound()-int(identified), 0)
}

type detector struct {
	name        string
	currentOnly bool // judges the current window only (needs a baseline without it)
	run         func(ev *evaluation, v *view)
}

// detectors in evaluation order; each is in its own file.
var detectors = []detector{
	{vocab.DetectorFlood, false, detectFlood},
	{vocab.DetectorRateSpike, true, detectRateSpike},
	{vocab.DetectorProbing, false, detectProbing},
	{vocab.DetectorBruteForce, false, detectBruteForce},
	{vocab.DetectorCredentialStuffing, false, detectCredentialStuffing},
	{vocab.DetectorEnumeration, false, detectEnumeration},
	{vocab.DetectorExfiltration, true, detectExfiltration},
}

// Implemented lists the detectors this package runs, in evaluation order: what the
// vocabulary's detector names and the playbook are checked against.
func Implemented() []string {
	out := make([]string, len(detectors))
	for i, d := range detectors {
		out[i] = d.name
	}
	return out
}

// emit builds a finding over [start, end) of the key.
func (ev *evaluation) emit(det string, v *view, start, end int64, qual string, f Finding) {
	f.ID = findingID(det, ev.key, start, qual)
	f.Detector = det
	f.KeyType = ev.key.Type
	f.Key = ev.key.Value
	f.WindowStart = time.Unix(start, 0).UTC()
	f.WindowEnd = time.Unix(end, 0).UTC()
	f.Evidence.Window = (time.Duration(end-start) * time.Second).String()
	f.Evidence.Shared = v.shared
	f.Evidence.Late = ev.s.Late()
	if f.Evidence.Samples == nil {
		f.Evidence.Samples = samplesOf(v.w)
	}
	ev.out = append(ev.out, f)
}

// who names the key in a reason.
func (ev *evaluation) who() string {
	switch ev.key.Type {
	case vocab.KeyIP:
		return "Address " + ev.key.Value
	case vocab.KeySubscription:
		return "Subscription " + ev.key.Value
	case vocab.KeyUser:
		return "User " + ev.key.Value
	}
	return ev.key.String()
}

// windowText is "5-minute window from 12:00 UTC on 2026-11-23".
func windowText(start, end int64) string {
	s := time.Unix(start, 0).UTC()
	d := end - start
	length := fmt.Sprintf("%d-minute", d/60)
	if d%60 != 0 {
		length = fmt.Sprintf("%d-second", d)
	}
	return fmt.Sprintf("%s window from %s UTC on %s", length, s.Format("15:04:05"), s.Format("2006-01-02"))
}

// sharedText explains, for a shared key, what was counted.
func sharedText(v *view) string {
	if v.shared == nil {
		return ""
	}
	about := ""
	if v.shared.Identities > sketchK {
		about = "about "
	}
	return fmt.Sprintf(" without any identity (it is shared by %s%d identities, whose traffic is judged per identity)", about, v.shared.Identities)
}

// splitOp cuts an operation key into its API and "METHOD /template".
func splitOp(key string) (api, op string) {
	api, op, _ = strings.Cut(key, " ")
	return api, op
}

func stats(mean, std float64, n uint32) *Stats {
	return &Stats{Mean: round3(mean), StdDev: round3(std), Windows: int(n)}
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
