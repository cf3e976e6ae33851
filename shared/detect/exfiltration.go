package detect

import (
	"fmt"
	"math"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectExfiltration: response bytes per key and operation in the current window
// against every reference available (like Defender's API_SpikeInPayload): the key's
// own baseline of response bytes per window (all operations), and the operation
// population's typical bytes per client per window (requests per client times bytes
// per request). It fires when the volume reaches MinBytes and exceeds Factor times
// each reference; the population's is required (without it the operation has no
// typical payload), the key's own is used when learnt.
func detectExfiltration(ev *evaluation, v *view) {
	cfg := &ev.cfg.Exfiltration
	w := v.w
	minHist := uint32(cfg.MinHistory)
	haveOwn := ev.s.base.n >= minHist
	own := max(float64(ev.s.base.bmean), 1)
	start, end := w.start, w.start+int64(w.size)
	for _, o := range w.ops {
		b := o.bytes
		if v.shared != nil {
			b -= min(o.idBytes, o.bytes)
		}
		if b < uint64(cfg.MinBytes) {
			continue
		}
		ps := ev.popState(o.key)
		havePop := ps != nil && ps.base.n >= minHist
		if !havePop {
			// An operation with no learnt population (a file downloaded once, a new
			// endpoint) has no typical payload to exceed: a crawler fetching a 37 MiB
			// archive once is not exfiltration.
			continue
		}
		x := float64(b)
		ratio, threshold := math.Inf(1), 0.0
		if haveOwn {
			threshold = cfg.Factor * own
			if x <= threshold {
				continue
			}
			ratio = x / threshold
		}
		var popRef float64
		if havePop {
			popRef = max(float64(ps.base.mean)*float64(ps.base.bmean), 1)
			t := cfg.Factor * popRef
			if x <= t {
				continue
			}
			ratio = min(ratio, x/t)
			if !haveOwn {
				threshold = t
			}
		}
		api, op := splitOp(o.key)
		e := Evidence{Measure: "response_bytes", Count: int64(b), Threshold: math.Round(threshold), Requests: int64(o.req),
			ResponseBytes: int64(o.bytes)}
		refs := ""
		if haveOwn {
			e.Baseline = stats(own, ev.s.base.bstd(), ev.s.base.n)
			refs = fmt.Sprintf("its own baseline of %s per window", byteText(own))
		}
		if havePop {
			e.Population = stats(popRef, float64(ps.base.bmean)*math.Sqrt(max(float64(ps.base.vr), 0)), ps.base.n)
			if refs != "" {
				refs += " and "
			}
			refs += fmt.Sprintf("a typical client's %s on this operation", byteText(popRef))
		}
		ev.emit(vocab.DetectorExfiltration, v, start, end, o.key, Finding{
			Confidence: confidence(ratio, 1),
			Severity:   severity(ratio, 1, vocab.SeverityMedium),
			API:        api,
			Operation:  op,
			Evidence:   e,
			Reason: fmt.Sprintf("%s received %s from %s in %d requests%s in the %s, more than %g times %s: possible data exfiltration.",
				ev.who(), byteText(x), op, o.req, sharedText(v), windowText(start, end), cfg.Factor, refs),
		})
	}
}

func byteText(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", b)
}
