package detect

import (
	"fmt"
	"math"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectFlood: requests per key per window above an absolute limit (200 per 5
// minutes by default: README.md says how it was chosen). Requests to an API with its own limit
// (Flood.PerAPI) count against that limit instead.
func detectFlood(ev *evaluation, v *view) {
	cfg := &ev.cfg.Flood
	w := v.w
	start, end := w.start, w.start+int64(w.size)
	rest := int64(v.n.req)
	if w.x != nil {
		for _, a := range w.x.apis {
			limit, ok := cfg.PerAPI[a.api]
			if !ok {
				continue
			}
			n := int64(a.req)
			if v.shared != nil {
				n -= int64(min(a.idReq, a.req))
			}
			rest -= n
			if n > int64(limit) {
				ev.emit(vocab.DetectorFlood, v, start, end, "api\x00"+a.api, Finding{
					Confidence: confidence(float64(n), float64(limit)),
					Severity:   severity(float64(n), float64(limit), vocab.SeverityUnknown),
					API:        a.api,
					Evidence:   Evidence{Measure: "requests", Count: n, Threshold: float64(limit), Requests: int64(w.n.req)},
					Reason: fmt.Sprintf("%s sent %d requests%s to API %s in the %s, over that API's flood limit of %d.",
						ev.who(), n, sharedText(v), a.api, windowText(start, end), limit),
				})
			}
		}
	}
	// Cache busting: a burst too short for the window's limit. A shared key's users
	// are judged one by one instead (their identity keys).
	if x := w.x; x != nil && v.shared == nil && int(x.burst.max) >= cfg.BurstQueries {
		n, t := int64(x.burst.max), cfg.BurstQueries
		span := time.Duration(cfg.BurstSpan)
		ev.emit(vocab.DetectorFlood, v, start, end, "burst", Finding{
			Confidence: confidence(float64(n), float64(t)),
			Severity:   severity(float64(n), float64(t), vocab.SeverityUnknown),
			Evidence:   Evidence{Measure: "burst_distinct_queries", Count: n, Threshold: float64(t), Requests: int64(w.n.req)},
			Reason: fmt.Sprintf("%s sent %d requests to one path, each with a new query string, within %s in the %s: a cache-busting burst (threshold %d).",
				ev.who(), n, span, windowText(start, end), t),
		})
	}
	// Several people on one key (a tenant's subscription, a small office's address):
	// each is judged on their own key, the key on its requests without one.
	people := ""
	if x := w.x; x != nil && v.shared == nil && rest > int64(cfg.Limit) {
		if all, _, _ := x.identities(); all >= 2 {
			rest = max(rest-int64(x.id.req), 0)
			people = fmt.Sprintf(" without a narrower identity (%d identities judged on their own keys)", all)
		}
	}
	// Anonymous users behind one address (a school's forward proxy) send many user
	// agents, none of them many requests: the address is judged by the most one agent
	// can have sent. A flooder sends one.
	agents := ""
	if x := w.x; x != nil && ev.key.Type == vocab.KeyIP && v.shared == nil && people == "" && rest > int64(cfg.Limit) {
		if b := int64(x.agents.busiest(uint32(min(rest, math.MaxUint32)))); b < rest {
			rest = b
			agents = " from its busiest user agent (at most)"
		}
	}
	// A client's own normal is not a flood: with its baseline learnt, a count within
	// RateSpike.Factor of it is its usual volume (a busy integration), and rate_spike
	// judges a rise.
	if rs := &ev.cfg.RateSpike; ev.s.base.n >= uint32(rs.MinHistory) && float64(rest) <= rs.Factor*float64(ev.s.base.mean) {
		return
	}
	if rest > int64(cfg.Limit) {
		others := ""
		if len(cfg.PerAPI) > 0 && rest != int64(v.n.req) {
			others = " (APIs with their own limit left out)"
		}
		ev.emit(vocab.DetectorFlood, v, start, end, "", Finding{
			Confidence: confidence(float64(rest), float64(cfg.Limit)),
			Severity:   severity(float64(rest), float64(cfg.Limit), vocab.SeverityUnknown),
			Evidence:   Evidence{Measure: "requests", Count: rest, Threshold: float64(cfg.Limit), Requests: int64(w.n.req)},
			Reason: fmt.Sprintf("%s sent %d requests%s%s%s in the %s, over the flood limit of %d.",
				ev.who(), rest, people+agents, sharedText(v), others, windowText(start, end), cfg.Limit),
		})
	}
}
