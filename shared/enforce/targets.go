package enforce

import (
	"path/filepath"

	"github.com/apiguard/apiguard/shared/apim/fragment"
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

// EmptyWAFPolicy is the document a local policy file starts as: no rules of anyone's,
// indented so that the rules written into it are too.
func EmptyWAFPolicy(kind waf.Kind) []byte {
	if kind == waf.FrontDoor {
		return []byte("{\n  \"properties\": {\n    \"customRules\": {\n      \"rules\": []\n    }\n  }\n}\n")
	}
	return []byte("{\n  \"properties\": {\n    \"customRules\": []\n  }\n}\n")
}

// APIMDir lays out a local directory target as APIM stores it: the fragment in
// fragments/{id}.xml and each scope's policy in {scope}.xml (global.xml,
// products/P.xml, apis/A.xml, apis/A/operations/O.xml). Missing files read as absent
// documents, so the first reconcile creates them.
func APIMDir(dir, fragmentID string, scopes []string) (Backend, []APIMScope) {
	frag := NewFileBackend(filepath.Join(dir, "fragments", fragmentID+".xml"), nil)
	out := make([]APIMScope, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, APIMScope{Name: s, Backend: NewFileBackend(filepath.Join(dir, filepath.FromSlash(s)+".xml"), nil)})
	}
	return frag, out
}

// APIMFragmentOptions turns a configured APIM target into the fragment's options.
func APIMFragmentOptions(t config.APIMTarget) fragment.Options {
	return fragment.Options{Tier: t.Tier, ConsumptionThrottle: t.ConsumptionThrottle,
		ForwardedHeader: t.ForwardedHeader, TrustedHops: t.TrustedHops}
}
