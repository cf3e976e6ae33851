package detect

import (
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectEnumeration: distinct object ids per path template per key per window (BOLA,
// Defender's API_ParameterEnumeration). Ids are the path segments under a "{...}" of
// the template, and query values that look like ids (numbers, UUIDs, long hex, high
// entropy tokens) keyed "template?param", so WordPress's /?author=1..N is the template
// "/?author". Overrides lower or raise the threshold per template or parameter.
//
// A slow walk (an id every ten seconds) is counted over the window and the one before,
// reported once, by the window where the two reach the threshold. A key that carries
// two or more narrower identities (a team's subscription) is judged on its people's
// keys: their ids together are no one's walk.
func detectEnumeration(ev *evaluation, v *view) {
	w := v.w
	if x := w.x; x != nil && v.shared == nil {
		if all, _, _ := x.identities(); all >= 2 {
			return
		}
	}
	var prev *Delta
	if p := ev.s.prev; v.current && p != nil && p.start == w.start-int64(w.size) {
		prev = p
	}
	end := w.start + int64(w.size)
	for i := range w.tmpls {
		t := &w.tmpls[i]
		var pt *tmplTally
		if prev != nil {
			for j := range prev.tmpls {
				if prev.tmpls[j].tmpl == t.tmpl && prev.tmpls[j].api == t.api {
					pt = &prev.tmpls[j]
				}
			}
		}
		if !t.ids.sat && (pt == nil || !pt.ids.sat) && len(t.ids.h)+lenIDs(pt) < ev.p.minEnum {
			continue // judged distinct ids are at most the exact count
		}
		start, ids, c := w.start, &t.ids, *t
		n := v.judgedDistinct(ids, t.idReq)
		cfg := &ev.cfg.Enumeration
		thr := cfg.thresholdFor(t.tmpl)
		if n < thr && pt != nil && v.judgedDistinct(&pt.ids, pt.idReq) < thr {
			u := t.ids.clone()
			u.merge(&pt.ids)
			start, ids = prev.start, &u
			c.idReq, c.walk, c.fails, c.req = addU32(t.idReq, pt.idReq), addU32(t.walk, pt.walk), addU32(t.fails, pt.fails), addU32(t.req, pt.req)
			n = v.judgedDistinct(ids, c.idReq)
		}
		if n < thr {
			continue
		}
		all := ids.count()
		walk, fails := share(int64(c.walk), int64(c.req)), share(int64(c.fails), int64(c.req))
		chosen := cfg.MinWalkShare <= 0 && cfg.MinFailureShare <= 0 ||
			cfg.MinWalkShare > 0 && walk >= cfg.MinWalkShare || cfg.MinFailureShare > 0 && fails >= cfg.MinFailureShare
		if !chosen {
			continue // ids it was handed: browsing, not enumerating
		}
		ev.emit(vocab.DetectorEnumeration, v, start, end, t.api+"\x00"+t.tmpl, Finding{
			Confidence: confidence(float64(n), float64(thr)),
			Severity:   severity(float64(n), float64(thr), vocab.SeverityUnknown),
			API:        t.api,
			Evidence: Evidence{Measure: "distinct_ids", Count: int64(n), Threshold: float64(thr), Requests: int64(w.n.req),
				DistinctIDs: all, Template: t.tmpl, Estimated: ids.estimated()},
			Reason: fmt.Sprintf("%s asked for %d distinct object ids in %s%s in the %s, %.0f%% of them next to the one before and %.0f%% refused or not found: enumeration (threshold %d).",
				ev.who(), n, t.tmpl, sharedText(v), windowText(start, end), 100*walk, 100*fails, thr),
		})
	}
}

// thresholdFor is the threshold of a template key: an override of the template itself,
// else of its query parameter in any template ("?author"), else Threshold.
func (c *EnumerationConfig) thresholdFor(tmpl string) int {
	if n, ok := c.Overrides[tmpl]; ok {
		return n
	}
	if i := strings.LastIndexByte(tmpl, '?'); i >= 0 {
		param := tmpl[i:]
		if n, ok := c.Overrides[param]; ok {
			return n
		}
		for k, n := range c.Overrides {
			if strings.EqualFold(k, param) || strings.EqualFold(k, tmpl) {
				return n
			}
		}
	}
	return c.Threshold
}

func lenIDs(t *tmplTally) int {
	if t == nil {
		return 0
	}
	return len(t.ids.h)
}
