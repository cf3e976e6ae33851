// Package decide turns an incident into graded decisions: what to do, to whom, for how
// long and why. It is pure policy: state it needs (offence history, the hourly cap)
// comes through the small History interface, so the offline plan command and the
// server decide alike.
package decide

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/vocab"
)

// History is what deciding needs to remember.
type History interface {
	// Offences counts decided offences of target since the given time, leaving out the
	// incident being decided (so a retried incident does not escalate itself).
	Offences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error)
	// Reserve takes one unit of the limit in bucket for key; idempotent per key.
	Reserve(ctx context.Context, bucket, key string, limit int) (bool, error)
}

// AllowList is a History that also keeps allow-list entries at run time (the
// control API's): Decide then refuses them like APIGUARD_ALLOW_CIDRS.
type AllowList interface {
	Allowed(ctx context.Context) ([]Allowed, error)
}

// NoHistory is the history of a fresh deployment: no offences, no cap reached. The
// offline plan command uses it.
type NoHistory struct{}

func (NoHistory) Offences(context.Context, string, time.Time, string) (int, error) { return 0, nil }
func (NoHistory) Reserve(context.Context, string, string, int) (bool, error)       { return true, nil }

// Target is what a decision acts on.
type Target struct {
	Kind  vocab.KeyType `json:"kind"`  // ip, api, subscription or user
	Value string        `json:"value"` // the address, or the API's resource id
}

// Decision is one graded response, with its reason.
type Decision struct {
	Index     int            `json:"index"`
	Action    vocab.Action   `json:"action"`
	Intended  vocab.Action   `json:"intended_action,omitempty"` // for skip and deferred: what would have been done
	Mode      vocab.Mode     `json:"mode,omitempty"`            // dryrun or enforce, for enforcing actions
	Address   string         `json:"address,omitempty"`
	Target    *Target        `json:"target,omitempty"`
	Duration  string         `json:"duration,omitempty"`
	Seconds   int64          `json:"duration_seconds,omitempty"`
	Expires   time.Time      `json:"expires,omitzero"`
	Offences  int            `json:"prior_offences"`
	Severity  vocab.Severity `json:"severity"`
	AlertType string         `json:"alert_type"`
	Reason    string         `json:"reason"`
	Advice    string         `json:"advice,omitempty"`
}

// Engine decides.
type Engine struct {
	cfg   *config.Config
	guard *Guard
	hist  History
	now   func() time.Time
}

// New returns an engine with the given policy, history and clock.
func New(cfg *config.Config, hist History, now func() time.Time) *Engine {
	if hist == nil {
		hist = NoHistory{}
	}
	return &Engine{cfg: cfg, guard: NewGuard(cfg.AllowList), hist: hist, now: now}
}

// Decide returns the decisions for one incident, in a stable order.
func (e *Engine) Decide(ctx context.Context, inc *alert.Incident) ([]Decision, error) {
	play, known := e.playFor(inc.AlertType)
	base := Decision{Severity: inc.Severity, AlertType: inc.AlertType, Advice: play.Advice}
	if base.Severity == vocab.SeverityUnknown {
		base.Severity = vocab.SeverityNotGiven
	}
	why := fmt.Sprintf("%s alert %s", base.Severity, displayType(inc.AlertType))
	if !known {
		why += " (not in the playbook: default action " + string(play.Action) + ")"
	}

	var out []Decision
	add := func(d Decision) { d.Index = len(out); out = append(out, d) }
	// taken counts the places of the hourly cap this incident holds. The order of
	// its targets is the alert's, so a retry takes the same places again (Reserve
	// is idempotent per key) and defers the same rest.
	taken := 0

	if play.Endpoint {
		if len(inc.APIMResources) == 0 {
			d := base
			d.Action = vocab.Record
			d.Reason = why + ": names no API Management resource to act on"
			add(d)
			return out, nil
		}
		d, err := e.act(ctx, inc, &taken, play, base, why, Target{Kind: vocab.KeyAPI, Value: mostSpecificAPI(inc.APIMResources)})
		if err != nil {
			return nil, err
		}
		add(d)
		return out, nil
	}

	if inc.Confidence > 0 && inc.Confidence < MinConfidence && play.Action != vocab.Record {
		d := base
		d.Action, d.Intended = vocab.Record, play.Action
		d.Reason = why + fmt.Sprintf(": confidence %.2f is below %.2f: recorded, not enforced", inc.Confidence, MinConfidence)
		add(d)
		return out, nil
	}

	// Identities are throttled at the gateway: the edge cannot see them, and blocking
	// one user's abuse must not block the address many users share.
	for _, id := range inc.Identities {
		p := play
		if p.Action.Blocking() {
			p.Action = vocab.Throttle
		}
		if p.Repeat.Blocking() {
			p.Repeat = ""
		}
		d, err := e.act(ctx, inc, &taken, p, base, why, Target{Kind: id.Kind, Value: id.Value})
		if err != nil {
			return nil, err
		}
		add(d)
	}
	if len(inc.Identities) > 0 && len(inc.Addresses) == 0 {
		return out, nil
	}

	if len(inc.Addresses) == 0 {
		d := base
		d.Action = vocab.Record
		d.Reason = why + ": names no attacker address"
		add(d)
		return out, nil
	}
	guard := e.guard
	if al, ok := e.hist.(AllowList); ok && len(inc.Addresses) > 0 {
		extra, err := al.Allowed(ctx)
		if err != nil {
			return nil, fmt.Errorf("allow-list: %w", err)
		}
		guard = guard.With(extra)
	}
	for _, a := range inc.Addresses {
		t := Target{Kind: vocab.KeyIP, Value: a.IP.String()}
		if reason := guard.Why(a.IP); reason != "" {
			d := base
			d.Action, d.Address, d.Target = vocab.Skip, t.Value, &t
			if play.Action != vocab.Record {
				d.Intended = play.Action
			}
			d.Reason = why + ": never blocked: " + reason
			add(d)
			continue
		}
		d, err := e.act(ctx, inc, &taken, play, base, why, t)
		if err != nil {
			return nil, err
		}
		add(d)
	}
	return out, nil
}

// act grades the play for one target: escalation by offences, duration, caps, mode.
// taken is the incident's count of places in the hourly cap, which act advances.
func (e *Engine) act(ctx context.Context, inc *alert.Incident, taken *int, play Play, d Decision, why string, t Target) (Decision, error) {
	now := e.now().UTC().Truncate(time.Second) // whole seconds: expiries read cleanly
	offences, err := e.hist.Offences(ctx, t.Value, now.Add(-e.cfg.Lookback), inc.ID)
	if err != nil {
		return Decision{}, fmt.Errorf("offence history of %s: %w", t.Value, err)
	}
	action := play.Action
	if play.Repeat != "" && offences > 0 {
		action = play.Repeat
		why += fmt.Sprintf(": repeat offender (%d earlier offences): %s escalated to %s", offences, play.Action, play.Repeat)
	}
	d.Target, d.Offences = &t, offences
	if t.Kind == vocab.KeyIP {
		d.Address = t.Value
	}
	if !action.Enforcing() {
		d.Action = action
		d.Reason = why + ": recorded"
		return d, nil
	}

	dur := e.duration(inc, t.Value, offences)
	d.Action, d.Mode = action, e.cfg.ModeFor(action)
	d.Duration, d.Seconds = dur.String(), int64(dur/time.Second)
	d.Expires = now.Add(dur)
	d.Reason = why + fmt.Sprintf(": %s for %s", action, dur)
	if offences > 0 {
		d.Reason += fmt.Sprintf(" (base %s doubled for %d earlier offences within %s)", e.baseDuration(d.Severity), offences, e.cfg.Lookback)
	}

	if !action.Blocking() {
		return d, nil
	}
	// The incident's share is checked before the hourly cap, so an incident past its
	// share takes nothing from the hour that other incidents need.
	if share := e.cfg.MaxPerIncident; share > 0 && *taken >= share {
		return deferred(d, action, why+fmt.Sprintf(": deferred: this incident has used its share of %d new blocks per hour (APIGUARD_MAX_BLOCKS_PER_INCIDENT), so one alert naming many addresses cannot take the whole hourly cap", share)), nil
	}
	bucket := "newblocks-" + now.Format("2006010215")
	ok, err := e.hist.Reserve(ctx, bucket, string(action)+"|"+t.Value, e.cfg.MaxNewPerHour)
	if err != nil {
		return Decision{}, fmt.Errorf("hourly block cap: %w", err)
	}
	if !ok {
		return deferred(d, action, why+fmt.Sprintf(": deferred: the cap of %d new blocks per hour is reached (APIGUARD_MAX_NEW_BLOCKS_PER_HOUR)", e.cfg.MaxNewPerHour)), nil
	}
	*taken++
	return d, nil
}

// deferred turns a blocking decision into a deferred one: recorded with what it
// would have done and why not, enforcing nothing.
func deferred(d Decision, intended vocab.Action, reason string) Decision {
	d.Intended, d.Action, d.Reason = intended, vocab.Deferred, reason
	d.Mode, d.Duration, d.Seconds, d.Expires = "", "", 0, time.Time{}
	return d
}

func (e *Engine) baseDuration(sev vocab.Severity) time.Duration {
	if d, ok := e.cfg.Durations[sev]; ok {
		return d
	}
	return e.cfg.Durations[vocab.SeverityMedium]
}

// duration doubles the severity's base per earlier offence, caps it, and spreads it by
// a jitter that is deterministic per incident and target: the same alert always gets
// the same answer (plan and server agree), while blocks from one burst of alerts do not
// all expire in the same instant.
func (e *Engine) duration(inc *alert.Incident, target string, offences int) time.Duration {
	base := e.baseDuration(inc.Severity)
	d := float64(base) * math.Pow(2, float64(min(offences, 30)))
	if e.cfg.Jitter > 0 {
		h := fnv.New64a()
		h.Write([]byte(inc.ID + "|" + target))
		u := float64(h.Sum64()>>11) / float64(1<<53) // uniform in [0, 1)
		d *= 1 + e.cfg.Jitter*(2*u-1)
	}
	if d > float64(e.cfg.MaxDuration) {
		d = float64(e.cfg.MaxDuration)
	}
	return time.Duration(d).Round(time.Second)
}

func displayType(t string) string {
	if t == "" {
		return "of unknown type"
	}
	return t
}

// mostSpecificAPI picks the resource to act on when an alert names several: the first
// API (".../apis/A", with or without an operation), since a throttle applies per API;
// the service itself only when no API is named.
func mostSpecificAPI(ids []string) string {
	for _, id := range ids {
		if strings.Contains(strings.ToLower(id), "/apis/") {
			return id
		}
	}
	return ids[0]
}
