package enforce

import (
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/waf"
)

// WAFOptions turns a configured target into packing options.
func WAFOptions(t config.WAFTarget) waf.Options {
	action := "Block"
	if t.Canary {
		action = "Log" // canary: owned rules only log what they would block
	}
	return waf.Options{
		Kind: waf.Kind(t.Kind), NamePrefix: t.Prefix, PriorityStart: t.PriorityStart, PriorityEnd: t.PriorityEnd,
		MaxValues: t.MaxValues, Action: action, MatchVariable: t.MatchVariable,
	}.WithDefaults()
}

// EmptyWAFPolicy is the document a local policy file starts as: no rules of anyone's.
func EmptyWAFPolicy(kind waf.Kind) []byte {
	if kind == waf.FrontDoor {
		return []byte(`{"properties":{"customRules":{"rules":[]}}}` + "\n")
	}
	return []byte(`{"properties":{"customRules":[]}}` + "\n")
}
