package waf

import (
	"encoding/json"
	"fmt"
	"strings"
)

// What a document is, told from the fields each schema has and the other does not, so
// that a package.json, a whole ARM template or a policy of the other kind is refused
// with what was found instead of getting a customRules member bolted on. The signs
// come from the published schemas and examples (shared/reference/waf.md; the
// 2024-05-01 Application Gateway and 2024-02-01/2025-03-01 Front Door
// WafPolicyCreateOrUpdate examples): a key listed here appears in one kind only.

// Resource types, compared case-insensitively (ARM answers them in lower case).
const (
	AppGWType     = "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies"
	FrontDoorType = "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies"
)

// ResourceType is the ARM resource type of a policy kind.
func (k Kind) ResourceType() string {
	if k == FrontDoor {
		return FrontDoorType
	}
	return AppGWType
}

func (k Kind) other() Kind {
	if k == FrontDoor {
		return AppGW
	}
	return FrontDoor
}

func (k Kind) title() string {
	if k == FrontDoor {
		return "Front Door"
	}
	return "Application Gateway"
}

// Keys of properties.policySettings only one kind has. Both have mode, requestBodyCheck
// (a bool on Application Gateway, a string on Front Door), customBlockResponse* and
// logScrubbing, so those say nothing.
var settingsOf = map[Kind][]string{
	AppGW: {"state", "maxRequestBodySizeInKb", "requestBodyInspectLimitInKB", "requestBodyEnforcement",
		"fileUploadLimitInMb", "fileUploadEnforcement", "jsChallengeCookieExpirationInMins"},
	FrontDoor: {"enabledState", "redirectUrl", "javascriptChallengeExpirationInMinutes", "captchaExpirationInMinutes"},
}

// Read-only links under properties that the service answers with.
var linksOf = map[Kind][]string{
	AppGW:     {"applicationGateways", "httpListeners", "pathBasedRules"},
	FrontDoor: {"frontendEndpointLinks", "routingRuleLinks", "securityPolicyLinks"},
}

// signs is what one object says about its kind.
type signs struct {
	of       map[Kind][]string // field paths that only that kind has
	waf      bool              // a field both kinds have (managedRules.managedRuleSets, policySettings.mode)
	typ      string            // the "type" member, when a string
	topKeys  []string
	props    bool // properties is an object
	propKeys []string
}

// readSigns looks at the object at data[at] as a policy.
func readSigns(data []byte, at int) signs {
	s := signs{of: map[Kind][]string{}}
	ms, _, err := object(data, at)
	if err != nil {
		return s
	}
	for _, m := range ms {
		s.topKeys = append(s.topKeys, m.key)
	}
	if m, ok := lastMember(ms, "type"); ok {
		// An ARM type is Namespace/type; package.json's "type": "module" is not one.
		if err := json.Unmarshal(data[m.start:m.end], &s.typ); err != nil || !strings.Contains(s.typ, "/") {
			s.typ = ""
		} else {
			for _, k := range []Kind{AppGW, FrontDoor} {
				if strings.EqualFold(s.typ, k.ResourceType()) {
					s.of[k] = append(s.of[k], "type "+s.typ)
				}
			}
		}
	}
	if m, ok := lastMember(ms, "sku"); ok && data[m.start] == '{' {
		s.of[FrontDoor] = append(s.of[FrontDoor], "sku")
	}
	m, ok := lastMember(ms, "properties")
	if !ok || data[m.start] != '{' {
		return s
	}
	props, _, err := object(data, m.start)
	if err != nil {
		return s
	}
	s.props = true
	for _, p := range props {
		s.propKeys = append(s.propKeys, p.key)
	}
	if cr, ok := lastMember(props, "customRules"); ok {
		switch data[cr.start] {
		case '[':
			s.of[AppGW] = append(s.of[AppGW], "properties.customRules[]")
		case '{':
			s.of[FrontDoor] = append(s.of[FrontDoor], "properties.customRules.rules")
		}
	}
	for k, links := range linksOf {
		for _, l := range links {
			if _, ok := lastMember(props, l); ok {
				s.of[k] = append(s.of[k], "properties."+l)
			}
		}
	}
	if ps, ok := lastMember(props, "policySettings"); ok && data[ps.start] == '{' {
		settings, _, _ := object(data, ps.start)
		if _, ok := lastMember(settings, "mode"); ok {
			s.waf = true
		}
		for k, keys := range settingsOf {
			for _, key := range keys {
				if _, ok := lastMember(settings, key); ok {
					s.of[k] = append(s.of[k], "properties.policySettings."+key)
				}
			}
		}
	}
	if mr, ok := lastMember(props, "managedRules"); ok && data[mr.start] == '{' {
		managed, _, _ := object(data, mr.start)
		// Application Gateway keeps exclusions and exceptions beside the rule sets;
		// Front Door keeps exclusions inside each rule set and adds ruleSetAction.
		for _, key := range []string{"exclusions", "exceptions"} {
			if _, ok := lastMember(managed, key); ok {
				s.of[AppGW] = append(s.of[AppGW], "properties.managedRules."+key)
			}
		}
		if sets, ok := lastMember(managed, "managedRuleSets"); ok && data[sets.start] == '[' {
			s.waf = true
			spans, _, _ := array(data, sets.start)
			for _, sp := range spans {
				if data[sp[0]] != '{' {
					continue
				}
				set, _, _ := object(data, sp[0])
				if _, ok := lastMember(set, "ruleSetAction"); ok {
					s.of[FrontDoor] = append(s.of[FrontDoor], "properties.managedRules.managedRuleSets[].ruleSetAction")
					break
				}
			}
		}
	}
	return s
}

// verdict says whether the signs make a policy of kind k, or why not.
func (s signs) verdict(k Kind) error {
	mine, theirs := s.of[k], s.of[k.other()]
	known := strings.EqualFold(s.typ, AppGWType) || strings.EqualFold(s.typ, FrontDoorType)
	switch {
	case s.typ != "" && !known:
		// Azure CDN's WAF policies (Microsoft.Cdn/CdnWebApplicationFirewallPolicies) look
		// like Front Door's, rules and sku included, but are another resource.
		return reject("an ARM resource of type %s, not a WAF policy of kind %s (%s)", s.typ, k, k.ResourceType())
	case len(theirs) > 0 && len(mine) > 0:
		return reject("a document with signs of both kinds: %s (%s) and %s (%s)",
			k.title(), strings.Join(mine, ", "), k.other().title(), strings.Join(theirs, ", "))
	case len(theirs) > 0:
		return reject("%s policy (%s) given as kind %s", kindName(k.other()), strings.Join(theirs, ", "), k)
	case len(mine) > 0 || s.waf:
		return nil
	}
	what := "not a WAF policy: top-level keys " + keyList(s.topKeys)
	if s.props {
		what += "; properties holds " + keyList(s.propKeys)
	}
	return reject("%s", what)
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "(none)"
	}
	const most = 8
	if len(keys) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(keys[:most], ", "), len(keys)-most)
	}
	return strings.Join(keys, ", ")
}

// isTemplate tells an ARM deployment template: its $schema names deploymentTemplate, or
// it has both contentVersion and resources.
func isTemplate(data []byte, ms []member) bool {
	if m, ok := lastMember(ms, "$schema"); ok {
		var s string
		if json.Unmarshal(data[m.start:m.end], &s) == nil && strings.Contains(strings.ToLower(s), "deploymenttemplate") {
			return true
		}
	}
	_, cv := lastMember(ms, "contentVersion")
	_, rs := lastMember(ms, "resources")
	return cv && rs
}

// locate finds the policy object of kind k in the document whose top-level object is
// at data[top]: the document itself, or the one resource of that type in an ARM
// template. It refuses everything else, naming what it found.
func locate(k Kind, data []byte, top int) (at int, template bool, err error) {
	ms, _, err := object(data, top)
	if err != nil {
		return 0, false, reject("policy: %v", err)
	}
	if !isTemplate(data, ms) {
		if err := readSigns(data, top).verdict(k); err != nil {
			return 0, false, err
		}
		return top, false, nil
	}
	rs, ok := lastMember(ms, "resources")
	if !ok {
		return 0, true, reject("an ARM template without resources")
	}
	// resources is an array, or (languageVersion 2.0) an object of symbolic names.
	var starts []int
	switch data[rs.start] {
	case '[':
		spans, _, err := array(data, rs.start)
		if err != nil {
			return 0, true, reject("template resources: %v", err)
		}
		for _, sp := range spans {
			starts = append(starts, sp[0])
		}
	case '{':
		named, _, err := object(data, rs.start)
		if err != nil {
			return 0, true, reject("template resources: %v", err)
		}
		for _, m := range named {
			starts = append(starts, m.start)
		}
	default:
		return 0, true, reject("an ARM template whose resources is neither an array nor an object")
	}
	var mine, theirs []int
	for _, s := range starts {
		if data[s] != '{' {
			continue
		}
		res, _, err := object(data, s)
		if err != nil {
			continue
		}
		t, ok := lastMember(res, "type")
		if !ok {
			continue
		}
		var typ string
		if json.Unmarshal(data[t.start:t.end], &typ) != nil {
			continue
		}
		switch {
		case strings.EqualFold(typ, k.ResourceType()):
			mine = append(mine, s)
		case strings.EqualFold(typ, k.other().ResourceType()):
			theirs = append(theirs, s)
		}
	}
	switch {
	case len(mine) == 0 && len(theirs) > 0:
		return 0, true, reject("an ARM template with %s, none of type %s; it holds %s (%s): give kind %s",
			plural(len(starts), "resource", "resources"), k.ResourceType(), plural(len(theirs), k.other().title()+" policy", k.other().title()+" policies"), k.other().ResourceType(), k.other())
	case len(mine) == 0:
		return 0, true, reject("an ARM template with %s, none of type %s", plural(len(starts), "resource", "resources"), k.ResourceType())
	case len(mine) > 1:
		return 0, true, reject("an ARM template with %d resources of type %s: apiguard edits exactly one policy per document",
			len(mine), k.ResourceType())
	}
	at = mine[0]
	res, _, _ := object(data, at)
	if p, ok := lastMember(res, "properties"); ok && data[p.start] != '{' {
		return 0, true, reject("the template's %s resource has properties %s, not an object: apiguard edits literal rules only",
			k.ResourceType(), clip(data[p.start:p.end]))
	}
	if err := readSigns(data, at).verdict(k); err != nil {
		return 0, true, fmt.Errorf("the template's %s resource: %w", k.ResourceType(), err)
	}
	return at, true, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// clip shortens a value quoted in an error.
func clip(b []byte) string {
	const most = 60
	if len(b) > most {
		return string(b[:most]) + "..."
	}
	return string(b)
}
