package flow

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Notifications: every change of what is in force (block created, extended, removed),
// every decision waiting for approval, and every change of health, each with the
// address or identity, the reason and a link. Notify never blocks nor fails: a
// delivery that finally fails is recorded by the dispatcher's OnFailure (NotifyFailed)
// and shows in health.

// link is an absolute link to a control API path when APIGUARD_PUBLIC_URL is set, else
// one relative to the host.
func (a *App) link(parts ...string) string {
	base := a.cfg.PublicURL
	if base == "" {
		base = "/api"
	}
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return base + "/v1/" + strings.Join(parts, "/")
}

var actionWords = map[vocab.Action]string{
	vocab.BlockWAF:  "blocked at the edge",
	vocab.BlockAPIM: "blocked at the gateway",
	vocab.Throttle:  "throttled at the gateway",
}

// announceChange tells of a change of a block in force; dry-run blocks are not in
// force and are not announced.
func (a *App) announceChange(typ string, b record.Block, why string) {
	if a.notify == nil || vocab.Mode(b.Mode) != vocab.Enforce {
		return
	}
	verb := actionWords[vocab.Action(b.Action)]
	var summary string
	switch typ {
	case notify.TypeBlockRemoved:
		summary = fmt.Sprintf("%s no longer %s: %s", b.Target, verb, why)
	case notify.TypeBlockExtended:
		summary = fmt.Sprintf("%s stays %s until %s: %s", b.Target, verb, b.Expires.UTC().Format(time.RFC3339), why)
	default:
		summary = fmt.Sprintf("%s %s until %s: %s", b.Target, verb, b.Expires.UTC().Format(time.RFC3339), why)
	}
	links := map[string]string{"block": a.link("blocks", BlockID(vocab.Action(b.Action), b.Target))}
	if b.SourceIncident != "" && !strings.HasPrefix(b.SourceIncident, operatorSource) {
		links["incident"] = a.link("incidents", b.SourceIncident)
	}
	a.notify.Notify(notify.Event{
		ID:   notify.CauseID(typ, b.Action, b.Target, b.Expires.UTC().Format(time.RFC3339Nano), why),
		Type: typ, Subject: b.Target, Time: a.now().UTC(), Summary: summary, Links: links,
		Data: blockOf(b),
	})
}

// announceBlock tells of a block a decision put in force.
func (a *App) announceBlock(typ string, d decide.Decision, incident, why string) {
	if d.Target == nil {
		return
	}
	a.announceChange(typ, record.Block{Action: string(d.Action), TargetKind: string(d.Target.Kind), Target: d.Target.Value,
		Reason: d.Reason, Severity: string(d.Severity), SourceIncident: incident, Expires: d.Expires, Mode: string(d.Mode)}, why)
}

// announcePending asks for an approval: the decision, and where to answer it (POST).
func (a *App) announcePending(d Decision) {
	if a.notify == nil || d.Target == nil {
		return
	}
	a.notify.Notify(notify.Event{
		ID:   notify.CauseID(notify.TypeDecisionPending, d.ID),
		Type: notify.TypeDecisionPending, Subject: d.Target.Value, Time: a.now().UTC(),
		Summary: fmt.Sprintf("approve or reject: %s %s for %s: %s", d.Action, d.Target.Value, d.Duration, d.Reason),
		Links: map[string]string{
			"incident": a.link("incidents", d.Incident), "decision": a.link("decisions", d.ID),
			"approve": a.link("decisions", d.ID, "approve"), "reject": a.link("decisions", d.ID, "reject"),
		},
		Data: d,
	})
}

// announceHealth tells of a change of health status.
func (a *App) announceHealth(h Health, was string) {
	if a.notify == nil {
		return
	}
	if was == "" {
		was = "unknown"
	}
	summary := fmt.Sprintf("apiguard is %s (was %s)", h.Status, was)
	if len(h.Causes) > 0 {
		summary += ": " + strings.Join(h.Causes, "; ")
	}
	a.notify.Notify(notify.Event{
		ID:   notify.CauseID(notify.TypeHealthChanged, h.Status, h.Checked.Format(time.RFC3339Nano)),
		Type: notify.TypeHealthChanged, Subject: "apiguard", Time: h.Checked, Summary: summary,
		Links: map[string]string{"health": a.link("health")}, Data: h,
	})
}
