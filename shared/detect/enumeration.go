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
func detectEnumeration(ev *evaluation, v *view) {
	w := v.w
	start, end := w.start, w.start+int64(w.size)
	for i := range w.tmpls {
		t := &w.tmpls[i]
		if !t.ids.sat && len(t.ids.h) < ev.p.minEnum {
			continue // judged distinct ids are at most the exact count
		}
		all := t.ids.count()
		n := v.judgedDistinct(&t.ids, t.idReq)
		cfg := &ev.cfg.Enumeration
		thr := cfg.thresholdFor(t.tmpl)
		if n < thr {
			continue
		}
		walk, fails := share(int64(t.walk), int64(t.req)), share(int64(t.fails), int64(t.req))
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
				DistinctIDs: all, Template: t.tmpl, Estimated: t.ids.estimated()},
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
