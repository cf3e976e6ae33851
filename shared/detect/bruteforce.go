package detect

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectBruteForce: password guessing per key over BruteForce.Span (fail2ban: 5
// failures in 10 minutes), judged on outcomes, not on volume alone. An ordinary client
// logs in now and then, mostly successfully, and sees the odd 401 when a token expires;
// a guesser mostly fails. Three measures, each with its threshold:
//
//   - failed_logins: login attempts answered with a failure (for an endpoint whose
//     success is a redirect, a 2xx is a failure too), at least MinFailureShare of the
//     key's attempts;
//   - auth_failures: other requests answered 401/403 (a guessed key or token), at least
//     MinFailureShare of its other requests;
//   - login_attempts: attempts over LoginAttempts and over LoginAttemptsFactor times what
//     a typical client of the endpoint makes (a learnt population), where the answers
//     cannot tell: none failed and most were 2xx.
//
// With a span of two windows the counts are the previous and the current window's; a
// burst is reported once, by the window where it reaches the threshold, not again by
// the next window that still sees it in its previous one.
func detectBruteForce(ev *evaluation, v *view) {
	cfg := &ev.cfg.BruteForce
	w := v.w
	if v.n.authFail == 0 && v.n.login == 0 {
		return // every measure needs a count in this window
	}
	size := int64(w.size)
	span := int64(time.Duration(cfg.Span) / time.Second)
	end := w.start + size
	now := judgedAuth(w, v.shared != nil)
	var before authCounts
	if span > size && v.current && ev.s.prev != nil && ev.s.prev.start == w.start-size {
		p := ev.s.prev
		before = judgedAuth(p, ev.sharedOf(p) != nil)
	}
	if now.attempts > 0 || before.attempts > 0 {
		// Where success is a redirect, a 2xx is the failure page.
		learnt, contradicted := ev.loginAnswers(w)
		if before.attempts > 0 {
			l, c := ev.loginAnswers(ev.s.prev)
			learnt, contradicted = learnt || l, contradicted || c
		}
		now.settle(learnt, contradicted)
		before.settle(learnt, contradicted)
	}
	fails, attempts := int64(before.fail)+int64(now.fail), int64(before.attempts)+int64(now.attempts)
	authFails := int64(before.authFail) + int64(now.authFail)
	other := int64(before.req) + int64(now.req) - attempts
	failHit := reaches(before.fail, now.fail, cfg.FailedLogins) && share(fails, attempts) >= cfg.MinFailureShare &&
		!ev.ownCredentialsFailing(w, before.ok+now.ok, v.shared != nil)
	authHit := reaches(before.authFail, now.authFail, cfg.AuthFailures) && share(authFails, other) >= cfg.MinFailureShare
	// Volume alone judges only where the answers cannot: none failed, most were 2xx,
	// and the endpoint's population is learnt (without it, 30 logins may be an office).
	attemptT, typical := ev.loginAttemptThreshold(w)
	oks := int64(before.ok) + int64(now.ok)
	attemptHit := typical > 0 && fails == 0 && 2*oks >= attempts && reaches(before.attempts, now.attempts, attemptT)

	type hit struct {
		measure string
		count   int64
		t       int
	}
	var best *hit
	for _, h := range []struct {
		ok bool
		hit
	}{
		{failHit, hit{"failed_logins", fails, cfg.FailedLogins}},
		{authHit, hit{"auth_failures", authFails, cfg.AuthFailures}},
		{attemptHit, hit{"login_attempts", attempts, attemptT}},
	} {
		if h.ok && (best == nil || float64(h.count)/float64(h.t) > float64(best.count)/float64(best.t)) {
			best = &h.hit
		}
	}
	if best == nil {
		return
	}
	start := end - span
	var what string
	switch best.measure {
	case "failed_logins":
		what = fmt.Sprintf("%d failed login attempts (of %d)", fails, attempts)
	case "auth_failures":
		what = fmt.Sprintf("%d authentication failures (%s)", authFails, statusList(cfg.AuthStatuses))
	default:
		what = fmt.Sprintf("%d login attempts", attempts)
		if typical > 0 {
			what += fmt.Sprintf(", where a typical client makes %.1f", typical)
		}
	}
	ev.emit(vocab.DetectorBruteForce, v, start, end, "", Finding{
		Confidence: confidence(float64(best.count), float64(best.t)),
		Severity:   severity(float64(best.count), float64(best.t), vocab.SeverityUnknown),
		Evidence: Evidence{Measure: best.measure, Count: best.count, Threshold: float64(best.t),
			Requests: int64(before.req) + int64(now.req), AuthFailures: authFails, LoginAttempts: attempts,
			FailedLogins: fails},
		Reason: fmt.Sprintf("%s made %s%s in the %s: password guessing (threshold %d).",
			ev.who(), what, sharedText(v), windowText(start, end), best.t),
	})
}

// authCounts are a window's measures for brute force, as judged (the anonymous part of
// a shared key).
type authCounts struct {
	req, authFail, attempts, fail, ok, okRedir uint32
}

func judgedAuth(w *Delta, shared bool) authCounts {
	n := w.n
	var lg loginTally
	if w.x != nil {
		lg = w.x.lg
	}
	if shared && w.x != nil {
		n = n.minus(w.x.id)
		lg.fail, lg.ok = subU32(lg.fail, lg.idFail), subU32(lg.ok, lg.idOK)
	}
	return authCounts{req: n.req, authFail: n.authFail, attempts: n.login, fail: lg.fail, ok: lg.ok, okRedir: lg.okRedir}
}

// settle counts the 2xx answers that are failures: those of endpoints configured to
// redirect on success unless the population says they do not (contradicted), and all
// of them where the population shows success is a redirect (learnt).
func (a *authCounts) settle(learnt, contradicted bool) {
	if !contradicted {
		a.fail, a.okRedir = addU32(a.fail, a.okRedir), 0
	} else {
		a.ok, a.okRedir = addU32(a.ok, a.okRedir), 0
	}
	if learnt {
		a.fail, a.ok = addU32(a.fail, a.ok), 0
	}
}

func share(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// loginOps calls fn for each login endpoint among w's operations, with its template.
func (ev *evaluation) loginOps(w *Delta, fn func(key, template string)) {
	c := ev.p.c
	for i := range w.ops {
		_, rest, _ := strings.Cut(w.ops[i].key, " ")
		method, tmpl, _ := strings.Cut(rest, " ")
		if strings.EqualFold(method, "POST") && c.matchLogin(tmpl, make([]byte, 0, maxParamLen)) {
			fn(w.ops[i].key, tmpl)
		}
	}
}

// loginAttempts reports what the populations of w's login endpoints say about their
// 2xx answers: learnt, success is a redirect there (some clients were redirected, at
// least half as many as were answered 2xx), so a 2xx is a failure; contradicted, an
// endpoint configured to redirect on success answers 2xx to three or more clients and
// redirects none, so its 2xx are successes after all.
func (ev *evaluation) loginAnswers(w *Delta) (learnt, contradicted bool) {
	if w == nil {
		return false, false
	}
	ev.loginOps(w, func(key, tmpl string) {
		okC, redirC := 0, 0
		if ps := ev.popState(key); ps != nil {
			for _, pw := range []*Delta{&ps.cur, ps.prev} {
				if pw != nil && pw.x != nil {
					okC += pw.x.okClients().count()
					redirC += pw.x.redirectClients().count()
				}
			}
		}
		if redirC > 0 && 2*redirC >= okC {
			learnt = true
		}
		if ev.p.c.isRedirectLogin(tmpl) && okC >= 3 && redirC == 0 {
			contradicted = true
		}
	})
	return learnt, contradicted
}

// loginAttemptThreshold is LoginAttempts, raised to LoginAttemptsFactor times the
// typical attempts per client of the busiest login endpoint w used, when that
// population is learnt; typical is that figure (0 when unknown).
func (ev *evaluation) loginAttemptThreshold(w *Delta) (t int, typical float64) {
	cfg := &ev.cfg.BruteForce
	t = cfg.LoginAttempts
	minHist := uint32(ev.cfg.RateSpike.MinHistory)
	ev.loginOps(w, func(key, _ string) {
		if ps := ev.popState(key); ps != nil && ps.base.n >= minHist {
			typical = max(typical, float64(ps.base.mean))
		}
	})
	if typical > 0 {
		t = max(t, int(math.Ceil(cfg.LoginAttemptsFactor*typical)))
	}
	return t, typical
}

// reaches reports whether a count over two windows reaches t in the current one:
// either the current window alone does, or the two together do for the first time.
func reaches(prev, cur uint32, t int) bool {
	tt := uint32(t)
	return cur >= tt || (prev < tt && cur > 0 && uint64(prev)+uint64(cur) >= uint64(tt))
}

// ownCredentialsFailing says whether a key's failed logins are its own credentials
// gone bad rather than guesses: a machine client whose secret was rotated retries the
// token endpoint with the secret that worked minutes ago. Every failure carried an
// identity that also got in from the key over the span (for a user key, the key itself
// did: a login, or another request that went through). A guesser's failures name identities it never got in
// with, or none; one that finally guesses right has been flagged by then.
func (ev *evaluation) ownCredentialsFailing(w *Delta, oks uint32, shared bool) bool {
	if shared {
		return false // a shared key judges its anonymous part only
	}
	wins := []*Delta{w}
	if p := ev.s.prev; w == &ev.s.cur && p != nil && p.start == w.start-int64(w.size) &&
		int64(time.Duration(ev.cfg.BruteForce.Span)/time.Second) > int64(w.size) {
		wins = append(wins, p)
	}
	if ev.key.Type == vocab.KeyUser {
		// The identity is the key: it logged in, or its other requests went through
		// (its token worked), over the span. A guessed account's owner may be using it
		// too: the guesser's address is flagged, the account is not locked out.
		if oks > 0 {
			return true
		}
		for _, d := range wins {
			n := d.n
			if n.req > n.login+n.authFail+n.err {
				return true
			}
		}
		return false
	}
	var failing, ok distinct
	for _, d := range wins {
		if d.x == nil {
			continue
		}
		if d.x.lg.idFail < d.x.lg.fail {
			return false // failures without an identity: guesses at names the log does not show
		}
		failing.merge(&d.x.failing)
		ok.merge(&d.x.ok)
	}
	all, failedOnly, _ := compareSketches(&failing, &ok)
	return all > 0 && failedOnly == 0
}
