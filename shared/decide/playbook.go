package decide

import "github.com/apiguard/apiguard/shared/vocab"

// Play is the response to one alert type.
type Play struct {
	// Action is the first response.
	Action vocab.Action
	// Repeat, when set, replaces Action for a target with earlier offences inside the
	// look-back window: "throttle, then block the IP".
	Repeat vocab.Action
	// Endpoint means the alert names no single attacker: act on the API it names.
	Endpoint bool
	// Advice is a recommendation recorded with the decision.
	Advice string
}

// builtinPlaybook answers each Defender for APIs alert type (defender.md's table).
var builtinPlaybook = map[string]Play{
	"API_PopulationSpikeInAPITraffic":     {Action: vocab.Throttle, Endpoint: true, Advice: "no single source: throttle the endpoint"},
	"API_SpikeInAPITraffic":               {Action: vocab.Throttle, Repeat: vocab.BlockWAF},
	"API_SpikeInPayload":                  {Action: vocab.BlockWAF, Advice: "possible exfiltration: review what the API returns"},
	"API_SpikeInLatency":                  {Action: vocab.Record, Repeat: vocab.Throttle},
	"API_SprayInRequests":                 {Action: vocab.BlockWAF},
	"API_ParameterEnumeration":            {Action: vocab.BlockWAF, Advice: "add rate-limit-by-key on the endpoint"},
	"API_DistributedParameterEnumeration": {Action: vocab.Throttle, Endpoint: true, Advice: "enumeration from many addresses: throttle the endpoint by identity"},
	"API_UnseenParamType":                 {Action: vocab.Record, Advice: "add request schema validation (validate-content / validate-parameters)"},
	"API_UnseenParam":                     {Action: vocab.Record, Advice: "add request schema validation (validate-content / validate-parameters)"},
	"API_AccessFromTorExitNode":           {Action: vocab.BlockWAF},
	"API_AccessFromSuspiciousIP":          {Action: vocab.BlockWAF},
	"API_AccessFromSuspiciousUserAgent":   {Action: vocab.BlockWAF},

	// apiguard's own traffic detectors (shared/detect). A finding keyed by an address
	// acts on it; one keyed by a subscription or user throttles that identity.
	vocab.AlertType(vocab.DetectorFlood):              {Action: vocab.Throttle, Repeat: vocab.BlockWAF, Advice: "add rate-limit-by-key on the API"},
	vocab.AlertType(vocab.DetectorRateSpike):          {Action: vocab.Throttle, Repeat: vocab.BlockWAF},
	vocab.AlertType(vocab.DetectorProbing):            {Action: vocab.BlockWAF},
	vocab.AlertType(vocab.DetectorBruteForce):         {Action: vocab.BlockWAF, Advice: "protect the login endpoint (lockout, CAPTCHA, MFA)"},
	vocab.AlertType(vocab.DetectorCredentialStuffing): {Action: vocab.BlockWAF, Advice: "reset the credentials tried; enforce MFA"},
	vocab.AlertType(vocab.DetectorEnumeration):        {Action: vocab.BlockWAF, Advice: "check object-level authorization (BOLA) on the API"},
	vocab.AlertType(vocab.DetectorExfiltration):       {Action: vocab.BlockWAF, Advice: "possible exfiltration: review what the API returns"},
}

// MinConfidence is the confidence below which a traffic finding is recorded, never
// enforced.
const MinConfidence = 0.5

// playFor returns the play for an alert type with the configured overrides applied.
// known is false for types neither the playbook nor the overrides name.
func (e *Engine) playFor(alertType string) (p Play, known bool) {
	p, known = builtinPlaybook[alertType]
	if a, ok := e.cfg.Playbook[alertType]; ok {
		// An explicit override is taken literally: no repeat escalation on top.
		p.Action, p.Repeat = a, ""
		return p, true
	}
	if !known {
		return Play{Action: e.cfg.DefaultAction}, false
	}
	return p, true
}
