package detect

import (
	"fmt"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectProbing: distinct endpoints answered with a probing error (400, 404, 405 by
// default; static resources left out, as CrowdSec's http-probing does) per key per
// window. An endpoint is the operation template when the log names one (without a
// wildcard), else the path: a scanner's /.env, /.git/config and /wp-admin/ are three,
// a client's 404s on ten deleted items of /items/{id} are one (enumeration judges
// object ids). Counted exactly (the threshold is at most 64). At least MinErrorShare of
// the key's requests must be such errors.
func detectProbing(ev *evaluation, v *view) {
	w := v.w
	if w.x == nil {
		return
	}
	cfg := &ev.cfg.Probing
	detectMarkers(ev, v) // markers count whatever the answers: an injection is often answered 200 or 500
	share := float64(v.n.err) / float64(max(v.n.req, 1))
	if share < cfg.MinErrorShare {
		return // mostly successful traffic: a crawler on broken links, not a scanner
	}
	detectRotatingAgents(ev, v)
	detectMalformed(ev, v)
	all := w.x.paths.count()
	p := v.judgedDistinct(&w.x.paths, w.x.id.err)
	t := cfg.Threshold
	if p < t {
		return
	}
	start, end := w.start, w.start+int64(w.size)
	ev.emit(vocab.DetectorProbing, v, start, end, "", Finding{
		Confidence: confidence(float64(p), float64(t)),
		Severity:   severity(float64(p), float64(t), vocab.SeverityUnknown),
		Evidence: Evidence{Measure: "distinct_error_paths", Count: int64(p), Threshold: float64(t), Requests: int64(w.n.req),
			DistinctPaths: all, Estimated: w.x.paths.estimated()},
		Reason: fmt.Sprintf("%s got error answers (%s) on %d distinct endpoints%s in the %s: probing for endpoints (threshold %d).",
			ev.who(), statusList(ev.cfg.Probing.Statuses), p, sharedText(v), windowText(start, end), t),
	})
}

func statusList(codes []int) string {
	s := ""
	for i, c := range codes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(c)
	}
	return s
}

// detectRotatingAgents: a key whose errors come with many user agents, a client that
// rotates its user agent while it probes (RotatingUserAgents distinct ones among at least
// RotatingMinErrors errors). A shared key carries many browsers: its users are judged
// one by one instead.
func detectRotatingAgents(ev *evaluation, v *view) {
	cfg := &ev.cfg.Probing
	w := v.w
	if v.shared != nil || int(v.n.err) < cfg.RotatingMinErrors {
		return
	}
	uas := w.x.errUAs.count()
	if uas < cfg.RotatingUserAgents {
		return
	}
	start, end := w.start, w.start+int64(w.size)
	t := cfg.RotatingUserAgents
	ev.emit(vocab.DetectorProbing, v, start, end, "agents", Finding{
		Confidence: confidence(float64(uas), float64(t)),
		Severity:   severity(float64(uas), float64(t), vocab.SeverityUnknown),
		Evidence: Evidence{Measure: "rotating_user_agents", Count: int64(uas), Threshold: float64(t), Requests: int64(w.n.req),
			Estimated: w.x.errUAs.estimated()},
		Reason: fmt.Sprintf("%s got %d error answers (%s) under %d distinct user agents in the %s: a client rotating its user agent while it probes (threshold %d).",
			ev.who(), v.n.err, statusList(cfg.Statuses), uas, windowText(start, end), t),
	})
}

// detectMalformed: requests that were not HTTP at all (a TLS handshake on the HTTP
// port, a remote-access tool's beacon): no endpoint to count, but a client sending
// Probing.Malformed of them in a window, or in the window and the one before (a slow
// scanner), is probing the service. Reported once, by the window where the count
// reaches the threshold.
func detectMalformed(ev *evaluation, v *view) {
	w := v.w
	if w.x.malformed == 0 {
		return
	}
	var before uint32
	start := w.start
	if p := ev.s.prev; v.current && p != nil && p.start == w.start-int64(w.size) && p.x != nil {
		before = p.x.malformed
	}
	t := ev.cfg.Probing.Malformed
	if !reaches(before, w.x.malformed, t) {
		return
	}
	n := int(w.x.malformed)
	if n < t {
		n, start = int(before)+n, w.start-int64(w.size)
	}
	end := w.start + int64(w.size)
	ev.emit(vocab.DetectorProbing, v, start, end, "malformed", Finding{
		Confidence: confidence(float64(n), float64(t)),
		Severity:   severity(float64(n), float64(t), vocab.SeverityUnknown),
		Evidence:   Evidence{Measure: "malformed_requests", Count: int64(n), Threshold: float64(t), Requests: int64(w.n.req)},
		Reason: fmt.Sprintf("%s sent %d requests that were not HTTP (binary or garbled request lines)%s in the %s: probing the service (threshold %d).",
			ev.who(), n, sharedText(v), windowText(start, end), t),
	})
}
