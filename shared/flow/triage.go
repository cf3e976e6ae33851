package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Inventory reads the API inventory the triage ranks: the collector over Azure
// Resource Manager online, over a snapshot folder offline.
type Inventory interface {
	Collect(ctx context.Context) (triage.Inventory, error)
}

// Runs keeps each month's triage report.
type Runs interface {
	PutTriageRun(ctx context.Context, run record.TriageRun) error
	GetTriageRun(ctx context.Context, month string) (record.TriageRun, bool, error)
	ListTriageMonths(ctx context.Context) ([]string, error)
}

// TriageOptions are the classification's options from the settings.
func (a *App) TriageOptions() triage.Options {
	opts := triage.Options{SensitiveTags: a.cfg.SensitiveTags, ThrottleCalls: a.cfg.ThrottleCalls,
		ThrottlePeriod: a.cfg.ThrottlePeriod, MaxCapacity: a.cfg.MaxCapacity}
	for _, t := range a.cfg.APIMTargets {
		opts.OwnFragments = append(opts.OwnFragments, t.FragmentID)
	}
	return opts
}

// Triage is the monthly triage: it reads the inventory, ranks it against last
// month's report, stores this month's, proposes the enforceable remediations as
// pending decisions (approved through the control API like any other), and announces
// the report. A second run in a month replaces the month's report and proposes
// nothing twice.
func (a *App) Triage(ctx context.Context, log zerolog.Logger) (string, error) {
	if a.inventory == nil {
		return "", fault.Rejected(0, fmt.Errorf("triage is not configured: APIGUARD_TRIAGE_SCOPES names nothing and no APIM target has a resource id"))
	}
	inv, err := a.inventory.Collect(ctx)
	if err != nil {
		return "", fmt.Errorf("collect the inventory: %w", err)
	}
	c, err := a.Classify(ctx, inv)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	if err := a.store.PutTriageRun(ctx, record.TriageRun{Month: c.Month, Created: a.now().UTC(), Report: body}); err != nil {
		return "", fmt.Errorf("store the %s report: %w", c.Month, err)
	}
	proposed, err := a.propose(ctx, log, c)
	if err != nil {
		return "", err
	}
	detail, _ := json.Marshal(map[string]any{"month": c.Month, "counts": c.Counts, "changes": len(c.Changes), "gaps": len(c.Gaps), "proposed": proposed})
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{{Time: a.now().UTC(), ID: "triage-" + c.Month + "-" + a.now().UTC().Format(time.RFC3339),
		Kind: "triage.completed", Subject: c.Month, Actor: "triage", Detail: detail}}); err != nil {
		return "", err
	}
	summary := fmt.Sprintf("triage %s: %d APIs (P0 %d, P1 %d, P2 %d, P3 %d, Decommission %d), %d changes, %d gaps, %d proposals",
		c.Month, len(c.APIs), c.Counts[triage.P0], c.Counts[triage.P1], c.Counts[triage.P2], c.Counts[triage.P3],
		c.Counts[triage.Decommission], len(c.Changes), len(c.Gaps), proposed)
	a.announceTriage(c, summary)
	log.Info().Str("month", c.Month).Int("apis", len(c.APIs)).Int("proposed", proposed).Msg("triage completed")
	return summary, nil
}

// Classify ranks an inventory against the latest stored report of an earlier month.
func (a *App) Classify(ctx context.Context, inv triage.Inventory) (triage.Classification, error) {
	month := inv.Collected.UTC().Format("2006-01")
	prev, err := a.previousRun(ctx, month)
	if err != nil {
		return triage.Classification{}, err
	}
	return triage.Classify(inv, prev, a.TriageOptions()), nil
}

// previousRun is the latest report of a month before month, or nil.
func (a *App) previousRun(ctx context.Context, month string) (*triage.Classification, error) {
	months, err := a.store.ListTriageMonths(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(months) - 1; i >= 0; i-- {
		if months[i] >= month {
			continue
		}
		c, found, err := a.TriageReport(ctx, months[i])
		if err != nil || !found {
			return nil, err
		}
		return &c, nil
	}
	return nil, nil
}

// TriageMonths lists the months with a report, oldest first.
func (a *App) TriageMonths(ctx context.Context) ([]string, error) {
	return a.store.ListTriageMonths(ctx)
}

// TriageReport reads a month's report.
func (a *App) TriageReport(ctx context.Context, month string) (triage.Classification, bool, error) {
	run, found, err := a.store.GetTriageRun(ctx, month)
	if err != nil || !found {
		return triage.Classification{}, false, err
	}
	var c triage.Classification
	if err := json.Unmarshal(run.Report, &c); err != nil {
		return triage.Classification{}, false, fmt.Errorf("the stored %s report is unreadable: %w", month, err)
	}
	return c, true, nil
}

// propose turns the report's enforceable recommendations into pending decisions:
// a rate-limit-by-key baseline becomes a throttle of the API (each client of it, in
// the owned fragment); the onboarding batch becomes one onboarding per API. Each is
// an incident of its own, once per API, kind and month.
func (a *App) propose(ctx context.Context, log zerolog.Logger, c triage.Classification) (int, error) {
	n := 0
	for _, r := range c.APIs {
		for _, rec := range r.Recommendations {
			if !rec.Enforceable {
				continue
			}
			var action vocab.Action
			switch {
			case rec.Kind == triage.RecommendRateLimit:
				action = vocab.Throttle
			case rec.Kind == triage.RecommendOnboard && slices.Contains(c.Coverage.Next, r.API):
				action = vocab.Onboard
			default:
				continue // onboarding outside this run's batch waits for a later run
			}
			made, err := a.proposeOne(ctx, c.Month, r, rec, action)
			if err != nil {
				return n, fmt.Errorf("propose %s for %s: %w", rec.Kind, r.Name, err)
			}
			if made {
				n++
			}
		}
	}
	log.Info().Int("proposed", n).Msg("triage remediations proposed for approval")
	return n, nil
}

// proposeOne records one pending decision; false when this month already proposed it.
func (a *App) proposeOne(ctx context.Context, month string, r triage.Ranked, rec triage.Recommendation, action vocab.Action) (bool, error) {
	sum := sha256.Sum256([]byte(strings.ToLower(r.API)))
	id := "tri-" + month + "-" + rec.Kind + "-" + hex.EncodeToString(sum[:8])
	now := a.now().UTC().Truncate(time.Second)
	prev, found, err := a.store.GetIncident(ctx, id, now)
	if err != nil {
		return false, err
	}
	if found && prev.Complete {
		return false, nil
	}
	sev := severityOf(r.Priority)
	d := decide.Decision{
		Action: action, Mode: vocab.Approve, Target: &decide.Target{Kind: vocab.KeyAPI, Value: r.API},
		Severity: sev, AlertType: "apiguard.triage." + rec.Kind,
		Reason: fmt.Sprintf("triage %s: %s %s: %s", month, r.Priority, r.Name, rec.Text), Advice: rec.Snippet,
	}
	if action == vocab.Throttle {
		dur := a.cfg.MaxDuration
		d.Duration, d.Seconds = dur.String(), int64(dur/time.Second)
		d.Reason += fmt.Sprintf(" (a baseline of %d calls per %d s per client, for %s; the next triage proposes it again if it is still due)",
			a.cfg.ThrottleCalls, a.cfg.ThrottlePeriod, dur)
	}
	inc := alert.Incident{ID: id, AlertType: d.AlertType, DisplayName: rec.Text, Severity: sev, ProductName: "apiguard triage",
		StartTime: now, ResourceIDs: []string{r.API}, APIMResources: []string{r.API}, Addresses: []alert.Address{}, Shape: "triage"}
	normalized, _ := json.Marshal(inc)
	raw, _ := json.Marshal(r)
	body, _ := json.Marshal(d)
	rec0 := record.IncidentRecord{ID: id, EventTime: now, Received: now, AlertType: d.AlertType, Severity: string(sev),
		Source: "triage", Normalized: normalized, Raw: raw}
	if err := a.store.PutIncident(ctx, rec0); err != nil {
		return false, err
	}
	if err := a.store.PutDecisions(ctx, []record.DecisionRecord{{IncidentID: id, EventTime: now, Index: 0, Action: string(action),
		Target: r.API, Mode: string(vocab.Approve), Status: string(vocab.StatusPending), Created: now, Updated: now, Body: body}}); err != nil {
		return false, err
	}
	rec0.DecisionCount, rec0.Complete = 1, true
	if err := a.store.PutIncident(ctx, rec0); err != nil {
		return false, err
	}
	a.announcePending(Decision{ID: DecisionID(id, 0), Incident: id, Status: vocab.StatusPending, Updated: now, Decision: d})
	return true, nil
}

// severityOf grades a proposal by the API's rank.
func severityOf(p triage.Priority) vocab.Severity {
	switch p {
	case triage.P0:
		return vocab.SeverityHigh
	case triage.P1:
		return vocab.SeverityMedium
	case triage.P2:
		return vocab.SeverityLow
	}
	return vocab.SeverityInformational
}

// announceTriage tells of a completed report, with its counts and a link.
func (a *App) announceTriage(c triage.Classification, summary string) {
	if a.notify == nil {
		return
	}
	a.notify.Notify(notify.Event{
		ID:   notify.CauseID(notify.TypeTriageCompleted, c.Month, c.Collected.Format(time.RFC3339Nano)),
		Type: notify.TypeTriageCompleted, Subject: c.Month, Time: a.now().UTC(), Summary: summary,
		Links: map[string]string{"report": a.link("triage", c.Month) + "?format=html"},
		Data:  map[string]any{"month": c.Month, "counts": c.Counts, "changes": len(c.Changes), "gaps": len(c.Gaps)},
	})
}
