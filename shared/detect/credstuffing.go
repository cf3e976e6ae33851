package detect

import (
	"fmt"

	"github.com/apiguard/apiguard/shared/vocab"
)

// detectCredentialStuffing: distinct identities (user ids, else subscription ids) that
// failed authentication or attempted a login, and had no successful request, from one
// address (or through one subscription) in a window. A user whose token expired gets a
// 401, refreshes and succeeds: not counted, so a wave of expiries on an office NAT is
// not stuffing. They must also be at least MinFailingShare of all the identities the
// key carried: a few of 500 users mistyping a password is not stuffing either.
// Identities are the point of this detector, so it judges a shared key whole.
func detectCredentialStuffing(ev *evaluation, v *view) {
	if ev.key.Type != vocab.KeyIP && ev.key.Type != vocab.KeySubscription {
		return
	}
	w := v.w
	if w.x == nil {
		return
	}
	cfg := &ev.cfg.CredentialStuffing
	if x := w.x; !x.failing.sat && !x.ok.sat && len(x.failing.h) < cfg.Threshold {
		return // failing only is at most the failing sketch, exact
	}
	all, failing, estimated := w.x.identities()
	if failing < cfg.Threshold || float64(failing) < cfg.MinFailingShare*float64(all) {
		return
	}
	start, end := w.start, w.start+int64(w.size)
	kind := "identities"
	if ev.key.Type == vocab.KeySubscription {
		kind = "users"
	}
	v2 := *v
	v2.shared = nil // judged whole: say nothing about sharing
	ev.emit(vocab.DetectorCredentialStuffing, &v2, start, end, "", Finding{
		Confidence: confidence(float64(failing), float64(cfg.Threshold)),
		Severity:   severity(float64(failing), float64(cfg.Threshold), vocab.SeverityMedium),
		Evidence: Evidence{Measure: "distinct_failing_identities", Count: int64(failing), Threshold: float64(cfg.Threshold),
			Requests: int64(w.n.req), DistinctIdentities: all, FailingIdentities: failing,
			AuthFailures: int64(w.n.authFail), LoginAttempts: int64(w.n.login),
			Estimated: estimated},
		Reason: fmt.Sprintf("%s tried %d distinct %s that failed authentication or attempted a login and never succeeded (of %d seen) in the %s: credential stuffing (threshold %d).",
			ev.who(), failing, kind, all, windowText(start, end), cfg.Threshold),
	})
}
