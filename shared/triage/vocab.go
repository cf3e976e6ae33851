package triage

import "github.com/apiguard/apiguard/shared/vocab"

// The words of the classification, declared once for the report and the app: the names
// of the signals, the rules of the risk table, the kinds of change and of
// recommendation.

// Signal names.
const (
	SignalExternal      = "external"
	SignalAuthenticated = "authenticated"
	SignalSensitive     = "sensitive"
	SignalInactive      = "inactive"
)

// Rules of the risk table, as Ranked.Rules names them.
const (
	RuleExternalUnauthenticated = "external+unauthenticated" // P0
	RuleExternalSensitive       = "external+sensitive"       // P0
	RuleExternalAuthenticated   = "external+authenticated"   // P1
	RuleInternalSensitive       = "internal+sensitive"       // P2
	RuleInactive                = "inactive>90d"             // Decommission
	RuleInternalNonSensitive    = "internal+non-sensitive"   // P3
)

// Kinds of Change.
const (
	ChangeNew           = "new"            // in this month's inventory, not in last month's
	ChangeRemoved       = "removed"        // in last month's, gone from this month's inventory
	ChangeRose          = "rose"           // more urgent than last month
	ChangeFell          = "fell"           // less urgent, still a finding
	ChangeNewlyInactive = "newly-inactive" // now Decommission, or newly a decommission candidate
	ChangeResolved      = "resolved"       // a finding (P0-P2) last month, P3 now
)

// Kinds of Recommendation.
const (
	RecommendRequireSubscription = "require-subscription"
	RecommendValidateJWT         = "validate-jwt"
	RecommendRateLimit           = "rate-limit"
	RecommendDeprecate           = "deprecate"
	RecommendOnboard             = string(vocab.Onboard) // the action an approved onboarding decision takes
)

// label is how a reason names a priority.
func (p Priority) label() string {
	switch p {
	case P0:
		return "P0 (this week)"
	case P1:
		return "P1 (this month)"
	case P2:
		return "P2 (this quarter)"
	case P3:
		return "P3 (monitor only)"
	}
	return string(p)
}

// rank is p's place in Priorities(): 0 most urgent; an unknown priority ranks last.
func (p Priority) rank() int {
	for i, q := range Priorities() {
		if p == q {
			return i
		}
	}
	return len(Priorities())
}

// finding reports whether p is one of the findings of the table (P0 to P2).
func (p Priority) finding() bool { return p == P0 || p == P1 || p == P2 }
