package detect

import (
	"fmt"
	"math"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectRateSpike: a key's requests in the current window against every reference it
// has: its own baseline (requests per active window, once MinHistory windows are
// learnt) and the population's (the typical client's requests per window on each
// operation the key used, summed, for operations with MinHistory windows learnt). It
// fires when the count reaches MinRequests and exceeds Factor times each available
// reference; with none available (a new key on new operations) it stays silent. So a
// quiet client going from 1 to 12 requests never fires (under MinRequests), and a busy
// integration at its usual 2,000 a window never fires however quiet the other clients
// are (its own baseline is a reference).
func detectRateSpike(ev *evaluation, v *view) {
	cfg := &ev.cfg.RateSpike
	w := v.w
	n := float64(v.n.req)
	if n < float64(cfg.MinRequests) {
		return
	}
	minHist := uint32(cfg.MinHistory)
	haveOwn := ev.s.base.n >= minHist
	own := max(float64(ev.s.base.mean), 1)

	var popN, popRef, popVar float64
	havePop, popWindows := false, uint32(math.MaxUint32)
	for _, o := range w.ops {
		ps := ev.popState(o.key)
		if ps == nil || ps.base.n < minHist {
			continue
		}
		req := o.req
		if v.shared != nil {
			req -= min(o.idReq, o.req)
		}
		havePop = true
		popN += float64(req)
		popRef += max(float64(ps.base.mean), 1)
		popVar += max(float64(ps.base.vr), 0)
		popWindows = min(popWindows, ps.base.n)
	}
	if !haveOwn && !havePop {
		return
	}
	ratio := math.Inf(1)
	threshold := 0.0
	if haveOwn {
		threshold = cfg.Factor * own
		if n <= threshold {
			return
		}
		ratio = n / threshold
	}
	if havePop {
		t := cfg.Factor * popRef
		if popN <= t {
			return
		}
		if r := popN / t; r < ratio {
			ratio = r
		}
		if !haveOwn {
			threshold = t
		}
	}
	e := Evidence{Measure: "requests", Count: int64(n), Threshold: math.Round(threshold*100) / 100, Requests: int64(w.n.req)}
	var refs string
	if haveOwn {
		e.Baseline = stats(own, ev.s.base.std(), ev.s.base.n)
		refs = fmt.Sprintf("its own baseline of %.1f per window", own)
	}
	if havePop {
		e.Population = stats(popRef, math.Sqrt(popVar), popWindows)
		if refs != "" {
			refs += " and "
		}
		refs += fmt.Sprintf("a typical client's %.1f on the same operations", popRef)
	}
	start, end := w.start, w.start+int64(w.size)
	ev.emit(vocab.DetectorRateSpike, v, start, end, "", Finding{
		Confidence: confidence(ratio, 1),
		Severity:   severity(ratio, 1, vocab.SeverityUnknown),
		Evidence:   e,
		Reason: fmt.Sprintf("%s sent %d requests%s in the %s, more than %g times %s.",
			ev.who(), int64(n), sharedText(v), windowText(start, end), cfg.Factor, refs),
	})
}
