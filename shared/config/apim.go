package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/apiguard/apiguard/shared/vocab"
)

// APIMTarget is one API Management service apiguard enforces in: its owned policy
// fragment, and the scopes whose policies include it.
type APIMTarget struct {
	// ID is the service's resource id; Dir a local directory of policy files instead
	// (serve, output-as-code). Exactly one is set.
	ID  string `json:"id,omitempty"`
	Dir string `json:"dir,omitempty"`
	// FragmentID names the owned fragment (default apiguard-enforce).
	FragmentID string `json:"fragmentId,omitempty"`
	// Scopes get the include: "global", "products/P", "apis/A", "apis/A/operations/O".
	Scopes []string `json:"scopes,omitempty"`
	// Enforce lists the decision actions this service enforces (default block_apim and
	// throttle; add block_waf for APIs with no WAF in front).
	Enforce []vocab.Action `json:"enforce,omitempty"`
	// Tier: consumption has no rate-limit-by-key.
	Tier string `json:"tier,omitempty"`
	// ConsumptionThrottle: on Consumption a throttle is recorded as skipped ("skip") or
	// becomes a block of the address ("block").
	ConsumptionThrottle string `json:"consumptionThrottle,omitempty"`
	// ForwardedHeader and TrustedHops say where the client address is when the gateway
	// sits behind a trusted proxy (Application Gateway, Front Door).
	ForwardedHeader string `json:"forwardedHeader,omitempty"`
	TrustedHops     int    `json:"trustedHops,omitempty"`
}

// Key names the target in logs, audit and queue sessions.
func (t APIMTarget) Key() string {
	if t.ID != "" {
		return t.ID
	}
	return "dir:" + t.Dir
}

var (
	apimIDPattern   = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ApiManagement/service/[^/]+/?$`)
	apimScope       = regexp.MustCompile(`^(global|products/[^/]+|apis/[^/]+|apis/[^/]+/operations/[^/]+)$`)
	fragmentPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,79}$`)
	apimTiers       = map[string]bool{"": true, "consumption": true, "developer": true, "basic": true, "standard": true, "premium": true, "basicv2": true, "standardv2": true, "premiumv2": true}
)

func parseAPIMTargets(s string) ([]APIMTarget, error) {
	ts, err := decodeTargets[APIMTarget](s)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for i, t := range ts {
		where := fmt.Sprintf("target %d", i)
		switch {
		case t.ID != "" && t.Dir != "":
			errs = append(errs, fmt.Errorf("%s: set id or dir, not both", where))
		case t.ID != "":
			if !apimIDPattern.MatchString(t.ID) {
				errs = append(errs, fmt.Errorf("%s: %q is not an API Management service resource id", where, t.ID))
			}
		case t.Dir == "":
			errs = append(errs, fmt.Errorf("%s: needs id (an API Management service resource id) or dir", where))
		}
		if t.FragmentID == "" {
			t.FragmentID = "apiguard-enforce"
		}
		if !fragmentPattern.MatchString(t.FragmentID) {
			errs = append(errs, fmt.Errorf("%s: fragmentId %q must start with a letter and hold letters, digits and hyphens (max 80)", where, t.FragmentID))
		}
		if len(t.Scopes) == 0 {
			t.Scopes = []string{"global"}
		}
		for _, sc := range t.Scopes {
			if !apimScope.MatchString(sc) {
				errs = append(errs, fmt.Errorf("%s: scope %q is not global, products/P, apis/A or apis/A/operations/O", where, sc))
			}
		}
		if len(t.Enforce) == 0 {
			t.Enforce = []vocab.Action{vocab.BlockAPIM, vocab.Throttle}
		}
		for _, a := range t.Enforce {
			if !a.Enforcing() {
				errs = append(errs, fmt.Errorf("%s: enforce %q is not %s", where, a, oneOf(vocab.EnforcingActions())))
			}
		}
		t.Tier = strings.ToLower(t.Tier)
		if !apimTiers[t.Tier] {
			errs = append(errs, fmt.Errorf("%s: tier %q is not an API Management tier", where, t.Tier))
		}
		if t.ConsumptionThrottle == "" {
			t.ConsumptionThrottle = "skip"
		}
		if t.ConsumptionThrottle != "skip" && t.ConsumptionThrottle != "block" {
			errs = append(errs, fmt.Errorf("%s: consumptionThrottle %q is not skip or block", where, t.ConsumptionThrottle))
		}
		if t.ForwardedHeader == "" {
			t.ForwardedHeader = "X-Forwarded-For"
		}
		if t.TrustedHops == 0 {
			t.TrustedHops = 1
		}
		if t.TrustedHops < 1 || t.TrustedHops > 10 {
			errs = append(errs, fmt.Errorf("%s: trustedHops %d outside 1-10", where, t.TrustedHops))
		}
		if seen[strings.ToLower(t.Key())] {
			errs = append(errs, fmt.Errorf("%s: %s is listed twice", where, t.Key()))
		}
		seen[strings.ToLower(t.Key())] = true
		ts[i] = t
	}
	return ts, errors.Join(errs...)
}

var subscriptionID = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// parseTriageScopes reads the triage's scopes: subscription ids and APIM service
// resource ids. Empty takes the services of the APIM targets that name one.
func parseTriageScopes(s string, targets []APIMTarget) ([]string, error) {
	scopes := splitList(s)
	if len(scopes) == 0 {
		for _, t := range targets {
			if t.ID != "" {
				scopes = append(scopes, strings.TrimSuffix(t.ID, "/"))
			}
		}
		return scopes, nil
	}
	var errs []error
	for i, sc := range scopes {
		switch {
		case subscriptionID.MatchString(sc):
			scopes[i] = strings.ToLower(sc)
		case apimIDPattern.MatchString(sc):
			scopes[i] = strings.TrimSuffix(sc, "/")
		default:
			errs = append(errs, fmt.Errorf("%q is neither a subscription id nor an API Management service resource id", sc))
		}
	}
	return scopes, errors.Join(errs...)
}

// splitList reads a comma-separated list, blanks dropped.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
