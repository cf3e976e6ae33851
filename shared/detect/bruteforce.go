package detect

import (
	"fmt"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectBruteForce: authentication failures (401, 403) and login attempts (POSTs to a
// login path, whatever the answer: WordPress answers a failed login with 200) per key
// over BruteForce.Span (fail2ban: 5 failures in 10 minutes). With a span of two
// windows the counts are the previous and the current window's; a burst is reported
// once: by the window where it reaches the threshold, not again by the next window
// that still sees it in its previous one.
func detectBruteForce(ev *evaluation, v *view) {
	cfg := &ev.cfg.BruteForce
	w := v.w
	size := int64(w.size)
	span := int64(time.Duration(cfg.Span) / time.Second)
	end := w.start + size
	if v.n.authFail == 0 && v.n.login == 0 && cfg.AuthFailures >= 1 && cfg.Logins >= 1 {
		return // reaches needs a count in this window
	}
	var before counts
	if span > size && v.current && ev.s.prev != nil && ev.s.prev.start == w.start-size {
		p := ev.s.prev
		before = p.n
		if ev.sharedOf(p) != nil {
			before = p.n.minus(p.x.id)
		}
	}
	now := v.n
	authHit := reaches(before.authFail, now.authFail, cfg.AuthFailures)
	loginHit := reaches(before.login, now.login, cfg.Logins)
	if !authHit && !loginHit {
		return
	}
	fails, logins := int64(before.authFail)+int64(now.authFail), int64(before.login)+int64(now.login)
	measure, count, t := "auth_failures", fails, cfg.AuthFailures
	if !authHit || (loginHit && float64(logins)/float64(cfg.Logins) > float64(fails)/float64(cfg.AuthFailures)) {
		measure, count, t = "login_attempts", logins, cfg.Logins
	}
	start := end - span
	what := fmt.Sprintf("%d authentication failures (%s)", fails, statusList(cfg.AuthStatuses))
	if measure == "login_attempts" {
		what = fmt.Sprintf("%d login attempts", logins)
	}
	ev.emit(vocab.DetectorBruteForce, v, start, end, "", Finding{
		Confidence: confidence(float64(count), float64(t)),
		Severity:   severity(float64(count), float64(t), vocab.SeverityUnknown),
		Evidence: Evidence{Measure: measure, Count: count, Threshold: float64(t), Requests: int64(before.req) + int64(now.req),
			AuthFailures: fails, LoginAttempts: logins},
		Reason: fmt.Sprintf("%s made %s%s in the %s: password guessing (threshold %d).",
			ev.who(), what, sharedText(v), windowText(start, end), t),
	})
}

// reaches reports whether a count over two windows reaches t in the current one:
// either the current window alone does, or the two together do for the first time.
func reaches(prev, cur uint32, t int) bool {
	tt := uint32(t)
	return cur >= tt || (prev < tt && cur > 0 && uint64(prev)+uint64(cur) >= uint64(tt))
}
