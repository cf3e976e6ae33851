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
	var volume map[string]bool
	defer func() { detectExfiltrationRun(ev, v, volume) }()
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
		if volume == nil {
			volume = map[string]bool{}
		}
		volume[o.key] = true
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

// detectExfiltrationRun: a run of large responses on one operation (run.go), judged
// per response against the operation's typical response size (its population, which
// must be learnt), and against the key's own bytes per window where learnt (before the
// run began, else now): a batch integration pulling its usual exports is not deviating.
// It fires where no single window reaches MinBytes.
func detectExfiltrationRun(ev *evaluation, v *view, volume map[string]bool) {
	cfg := &ev.cfg.Exfiltration
	w := v.w
	if ev.s.run == nil && !hasBigOp(w) {
		return
	}
	if x := w.x; x != nil {
		if all, _, _ := x.identities(); all >= 2 {
			return // several people on one key: each is judged on their own key
		}
	}
	minHist := uint32(cfg.MinHistory)
	start, end := w.start, w.start+int64(w.size)
	for i := range w.ops {
		key := w.ops[i].key
		if volume[key] {
			continue // the window's volume already says it
		}
		run := ev.s.runOf(w, key)
		req, bytes, windows := run.req, run.bytes, run.windows
		if req < float64(cfg.RunResponses) || bytes < float64(cfg.RunMinBytes) || windows <= 0 {
			continue
		}
		ps := ev.popState(key)
		if ps == nil || ps.base.n < minHist {
			continue // no typical response to compare with
		}
		mean, typical := bytes/req, max(float64(ps.base.bmean), 1)
		t := cfg.Factor * typical
		if mean <= t {
			continue
		}
		ratio := mean / t
		perWindow := bytes / windows
		e := Evidence{Measure: "large_responses", Count: int64(math.Round(req)), Threshold: float64(cfg.RunResponses),
			Requests: int64(w.ops[i].req), ResponseBytes: int64(bytes),
			Population: stats(typical, math.Sqrt(max(float64(ps.base.bvr), 0)), ps.base.n)}
		// The key's own past, where learnt: as it was before the run began; or as it is
		// now for a key whose large responses began with its history (none before the
		// run: an integration's usual exports are in its baseline). A key with too short
		// a past (an account taken over, seldom used before) is judged on the operation
		// alone.
		own := ""
		if ownRef, ownN := run.own, run.ownN; ownN >= minHist || ownN == 0 && ev.s.base.n >= minHist {
			if ownN < minHist {
				ownRef, ownN = float64(ev.s.base.bmean), ev.s.base.n
			}
			ownRef = max(ownRef, 1)
			if perWindow <= cfg.Factor*ownRef {
				continue // usual for this key
			}
			ratio = min(ratio, perWindow/(cfg.Factor*ownRef))
			e.Baseline = stats(ownRef, 0, ownN)
			own = fmt.Sprintf(", and %s a window against its own %s", byteText(perWindow), byteText(ownRef))
		}
		api, op := splitOp(key)
		ev.emit(vocab.DetectorExfiltration, v, start, end, key+"#run", Finding{
			Confidence: confidence(ratio, 1),
			Severity:   severity(ratio, 1, vocab.SeverityMedium),
			API:        api,
			Operation:  op,
			Evidence:   e,
			Reason: fmt.Sprintf("%s received about %.0f responses from %s averaging %s, more than %g times the operation's typical %s%s, over the last hour or so up to the %s: possible data exfiltration spread over time.",
				ev.who(), req, op, byteText(mean), cfg.Factor, byteText(typical), own, windowText(start, end)),
		})
	}
}

func hasBigOp(w *Delta) bool {
	found := false
	bigOps(w, func(*opTally) { found = true })
	return found
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
