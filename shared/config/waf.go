package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// WAFTarget is one WAF policy apiguard keeps its owned rules in.
type WAFTarget struct {
	// ID is the policy's ARM resource id; File a local policy JSON file instead (serve,
	// output-as-code). Exactly one is set.
	ID   string `json:"id,omitempty"`
	File string `json:"file,omitempty"`
	// Kind is appgw or frontdoor: taken from the resource id, required with File.
	Kind string `json:"kind,omitempty"`
	// Prefix names owned rules (letters and digits, starting with a letter).
	Prefix string `json:"prefix,omitempty"`
	// Priorities is the owned priority band, "first-last" (default 50-99: after the
	// customer's usual low-numbered rules, so their Allow rules still win, and inside
	// Application Gateway's 1-100).
	Priorities string `json:"priorities,omitempty"`
	// Canary writes owned rules with action Log instead of Block.
	Canary bool `json:"canary,omitempty"`
	// MaxValues per IPMatch condition (600; 540 for Application Gateway with CRS 3.1 and older).
	MaxValues int `json:"maxValues,omitempty"`
	// MatchVariable overrides the address variable (Front Door: SocketAddr by default).
	MatchVariable string `json:"matchVariable,omitempty"`

	PriorityStart, PriorityEnd int `json:"-"`
}

// Key names the target in logs, audit and queue sessions.
func (t WAFTarget) Key() string {
	if t.ID != "" {
		return t.ID
	}
	return "file:" + t.File
}

var (
	wafIDPattern = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/(ApplicationGatewayWebApplicationFirewallPolicies|FrontDoorWebApplicationFirewallPolicies)/[^/]+/?$`)
	rulePrefix   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,39}$`)
)

// parseWAFTargets reads the JSON array of targets and checks each, naming every problem.
func parseWAFTargets(s string) ([]WAFTarget, error) {
	ts, err := decodeTargets[WAFTarget](s)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for i, t := range ts {
		where := fmt.Sprintf("target %d", i)
		switch {
		case t.ID != "" && t.File != "":
			errs = append(errs, fmt.Errorf("%s: set id or file, not both", where))
		case t.ID != "":
			m := wafIDPattern.FindStringSubmatch(t.ID)
			if m == nil {
				errs = append(errs, fmt.Errorf("%s: %q is not an Application Gateway or Front Door WAF policy resource id", where, t.ID))
				break
			}
			kind := "appgw"
			if strings.EqualFold(m[1], "FrontDoorWebApplicationFirewallPolicies") {
				kind = "frontdoor"
			}
			if t.Kind != "" && !strings.EqualFold(t.Kind, kind) {
				errs = append(errs, fmt.Errorf("%s: kind %q contradicts the resource id (%s)", where, t.Kind, kind))
			}
			t.Kind = kind
		case t.File != "":
			if t.Kind != "appgw" && t.Kind != "frontdoor" {
				errs = append(errs, fmt.Errorf("%s: a file target needs kind appgw or frontdoor", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: needs id (a WAF policy resource id) or file", where))
		}
		if t.Prefix == "" {
			t.Prefix = "apiguard"
		}
		if !rulePrefix.MatchString(t.Prefix) {
			errs = append(errs, fmt.Errorf("%s: prefix %q must start with a letter and hold 1-40 letters and digits", where, t.Prefix))
		}
		if t.Priorities == "" {
			t.Priorities = "50-99"
		}
		a, b, ok := strings.Cut(t.Priorities, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo {
			errs = append(errs, fmt.Errorf("%s: priorities %q is not a band \"first-last\" with 1 <= first <= last", where, t.Priorities))
		}
		if t.Kind == "appgw" && hi > 100 {
			// Application Gateway accepts custom rule priorities 1-100 only.
			errs = append(errs, fmt.Errorf("%s: priorities %q: Application Gateway custom rules take priorities 1-100", where, t.Priorities))
		}
		t.PriorityStart, t.PriorityEnd = lo, hi
		if t.MaxValues == 0 {
			t.MaxValues = 600
		}
		if t.MaxValues < 1 || t.MaxValues > 600 {
			errs = append(errs, fmt.Errorf("%s: maxValues %d outside 1-600", where, t.MaxValues))
		}
		if t.MatchVariable != "" && t.MatchVariable != "RemoteAddr" && t.MatchVariable != "SocketAddr" {
			errs = append(errs, fmt.Errorf("%s: matchVariable %q is not RemoteAddr or SocketAddr", where, t.MatchVariable))
		}
		if t.MatchVariable == "SocketAddr" && t.Kind == "appgw" {
			errs = append(errs, fmt.Errorf("%s: Application Gateway has no SocketAddr match variable", where))
		}
		if seen[strings.ToLower(t.Key())] {
			errs = append(errs, fmt.Errorf("%s: %s is listed twice", where, t.Key()))
		}
		seen[strings.ToLower(t.Key())] = true
		ts[i] = t
	}
	return ts, errors.Join(errs...)
}

// decodeTargets reads a setting holding a JSON array of target objects, refusing
// fields it does not know (a typo must not silently fall back to a default).
func decodeTargets[T any](s string) ([]T, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var ts []T
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("not a JSON array of targets: %v", err)
	}
	return ts, nil
}
