package decide

// Action is a graded response to an incident.
type Action string

const (
	Record    Action = "record"     // keep the incident; enforce nothing
	Throttle  Action = "throttle"   // rate-limit at the gateway (APIM)
	BlockWAF  Action = "block_waf"  // block the address at the edge (Application Gateway / Front Door WAF)
	BlockAPIM Action = "block_apim" // block at the gateway (APIM ip-filter)
	Skip      Action = "skip"       // would have acted, but the target is protected
	Deferred  Action = "deferred"   // would have blocked, but the hourly cap on new blocks is reached
)

// Enforcing reports whether a enforces something (and so gets a desired block).
func (a Action) Enforcing() bool { return a == Throttle || a == BlockWAF || a == BlockAPIM }

// Blocking reports whether a counts against the cap on new blocks.
func (a Action) Blocking() bool { return a == BlockWAF || a == BlockAPIM }

// Play is the response to one alert type.
type Play struct {
	// Action is the first response.
	Action Action
	// Repeat, when set, replaces Action for a target with earlier offences inside the
	// look-back window: "throttle, then block the IP".
	Repeat Action
	// Endpoint means the alert names no single attacker: act on the API it names.
	Endpoint bool
	// Advice is a recommendation recorded with the decision.
	Advice string
}

// builtinPlaybook answers each Defender for APIs alert type (defender.md's table).
var builtinPlaybook = map[string]Play{
	"API_PopulationSpikeInAPITraffic":     {Action: Throttle, Endpoint: true, Advice: "no single source: throttle the endpoint"},
	"API_SpikeInAPITraffic":               {Action: Throttle, Repeat: BlockWAF},
	"API_SpikeInPayload":                  {Action: BlockWAF, Advice: "possible exfiltration: review what the API returns"},
	"API_SpikeInLatency":                  {Action: Record, Repeat: Throttle},
	"API_SprayInRequests":                 {Action: BlockWAF},
	"API_ParameterEnumeration":            {Action: BlockWAF, Advice: "add rate-limit-by-key on the endpoint"},
	"API_DistributedParameterEnumeration": {Action: Throttle, Endpoint: true, Advice: "enumeration from many addresses: throttle the endpoint by identity"},
	"API_UnseenParamType":                 {Action: Record, Advice: "add request schema validation (validate-content / validate-parameters)"},
	"API_UnseenParam":                     {Action: Record, Advice: "add request schema validation (validate-content / validate-parameters)"},
	"API_AccessFromTorExitNode":           {Action: BlockWAF},
	"API_AccessFromSuspiciousIP":          {Action: BlockWAF},
	"API_AccessFromSuspiciousUserAgent":   {Action: BlockWAF},

	// apiguard's own traffic detectors (shared/detect). A finding keyed by an address
	// acts on it; one keyed by a subscription or user throttles that identity.
	"apiguard.flood":               {Action: Throttle, Repeat: BlockWAF, Advice: "add rate-limit-by-key on the API"},
	"apiguard.rate_spike":          {Action: Throttle, Repeat: BlockWAF},
	"apiguard.probing":             {Action: BlockWAF},
	"apiguard.brute_force":         {Action: BlockWAF, Advice: "protect the login endpoint (lockout, CAPTCHA, MFA)"},
	"apiguard.credential_stuffing": {Action: BlockWAF, Advice: "reset the credentials tried; enforce MFA"},
	"apiguard.enumeration":         {Action: BlockWAF, Advice: "check object-level authorization (BOLA) on the API"},
	"apiguard.exfiltration":        {Action: BlockWAF, Advice: "possible exfiltration: review what the API returns"},
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
		p.Action, p.Repeat = Action(a), ""
		return p, true
	}
	if !known {
		return Play{Action: Action(e.cfg.DefaultAction)}, false
	}
	return p, true
}
