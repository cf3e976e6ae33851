package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// TrafficResult is what one log batch gave.
type TrafficResult struct {
	Batch    string             `json:"batch"`
	Format   traffic.Format     `json:"format"`
	Records  int                `json:"records"`
	SetAside []traffic.SetAside `json:"set_aside,omitempty"`
	Findings []detect.Finding   `json:"findings"`
	// Incidents[i] is the outcome of deciding Findings[i].
	Incidents []Outcome `json:"incidents,omitempty"`
}

// maxSetAsideReported bounds the reasons an answer carries; the count is always exact
// in the log.
const maxSetAsideReported = 100

// Ingest processes one log batch and answers with its TrafficResult.
func (a *App) Ingest(ctx context.Context, log zerolog.Logger, b queue.LogBatch) (any, error) {
	return a.ProcessBatch(ctx, log, b)
}

// Traffic processes the log batches of one delivery (the traffic queue's messages). A
// batch that can never be read (unknown format, too large) is logged with its reason
// and set aside; a transient fault is returned, so the host redelivers the delivery
// (batches already applied are not counted twice) and past its delivery count
// dead-letters it.
func (a *App) Traffic(ctx context.Context, log zerolog.Logger, batches []queue.LogBatch) (string, error) {
	var retry []error
	records, findings, refused := 0, 0, 0
	for i, b := range batches {
		res, err := a.ProcessBatch(ctx, log, b)
		records += res.Records
		findings += len(res.Findings)
		switch {
		case err == nil:
		case fault.Of(err) == fault.Retry:
			retry = append(retry, fmt.Errorf("batch %s: %w", b.ID, err))
		default:
			refused++
			log.Error().Err(err).Int("index", i).Str("batch", b.ID).Msg("log batch cannot be read: set aside")
			if err := a.store.AddCount(ctx, countSetAside, a.now(), 1); err != nil {
				retry = append(retry, fmt.Errorf("count the batch set aside: %w", err))
			}
		}
	}
	summary := fmt.Sprintf("%d batches, %d records, %d findings, %d batches refused", len(batches), records, findings, refused)
	return summary, errors.Join(retry...)
}

// ProcessBatch decodes one batch and runs it through Process.
func (a *App) ProcessBatch(ctx context.Context, log zerolog.Logger, b queue.LogBatch) (TrafficResult, error) {
	res := TrafficResult{Batch: b.ID, Findings: []detect.Finding{}}
	format := b.Format
	if format == "" {
		format = a.cfg.TrafficFormat
	}
	batch, err := traffic.Decode(b.Body, traffic.Options{Format: traffic.Format(format), Trust: traffic.Trust{Proxies: a.cfg.TrustedProxies}})
	if err != nil {
		return res, err
	}
	res.Format = batch.Format
	res.SetAside = batch.SetAside[:min(len(batch.SetAside), maxSetAsideReported)]
	if n := len(batch.SetAside); n > 0 {
		log.Warn().Int("set_aside", n).Str("first_reason", batch.SetAside[0].Reason).Msg("records set aside")
		if err := a.store.AddCount(ctx, countSetAside, a.now(), int64(n)); err != nil {
			return res, fmt.Errorf("count set-aside records: %w", err)
		}
	}
	found, err := a.Process(ctx, log, b.ID, batch.Records)
	found.Batch, found.Format, found.SetAside = res.Batch, res.Format, res.SetAside
	return found, err
}

// Process runs the detectors on decoded records (state in the detector store, so
// counts add up across batches and instances; a batch id already applied is not counted
// again) and decides every finding through the playbook. The offline replay hands its
// records here too.
func (a *App) Process(ctx context.Context, log zerolog.Logger, batchID string, recs []traffic.Record) (TrafficResult, error) {
	res := TrafficResult{Batch: batchID, Records: len(recs), Findings: []detect.Finding{}}
	findings, err := a.Detect(ctx, batchID, recs)
	if err != nil {
		return res, err
	}
	res.Findings = append(res.Findings, findings...)
	if err := a.noteWatching(ctx, earliest(recs)); err != nil {
		return res, fmt.Errorf("note the start of traffic evidence: %w", err)
	}
	for _, f := range findings {
		o, err := a.decide(ctx, log, IncidentOf(f))
		if err != nil {
			return res, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		ev := log.Info().Str("finding", f.ID).Str("detector", f.Detector).Str("key_type", string(f.KeyType)).Str("key", f.Key).Bool("duplicate", o.Duplicate)
		for _, d := range o.Decisions {
			ev = ev.Str(fmt.Sprintf("decision_%d", d.Index), string(d.Action))
		}
		ev.Msg("finding decided")
		res.Incidents = append(res.Incidents, o)
	}
	return res, nil
}

// earliest is the earliest event time of records (zero for none).
func earliest(recs []traffic.Record) time.Time {
	var t time.Time
	for i := range recs {
		if !recs[i].Time.IsZero() && (t.IsZero() || recs[i].Time.Before(t)) {
			t = recs[i].Time
		}
	}
	return t
}

// Detect runs the detectors on decoded records and decides nothing: replay without
// --decide.
func (a *App) Detect(ctx context.Context, batchID string, recs []traffic.Record) ([]detect.Finding, error) {
	findings, err := a.detector.Process(ctx, batchID, recs)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	return findings, nil
}

// findingShape marks an incident made from a finding.
const findingShape alert.Shape = "finding"

// IncidentOf turns a finding into the incident the decision engine reads: the same
// playbook (alert type "apiguard.<detector>"), protected ranges, escalation, cap and
// audit as an alert. The finding's id is deterministic per detector, key and window, so
// the same finding seen again by a later batch is a duplicate and changes nothing.
func IncidentOf(f detect.Finding) alert.Incident {
	raw, _ := json.Marshal(f) // a struct of plain fields: cannot fail
	inc := alert.Incident{
		ID:          "fnd-" + f.ID,
		AlertType:   vocab.AlertType(f.Detector),
		DisplayName: f.Reason,
		Severity:    f.Severity,
		ProductName: "apiguard traffic detection",
		StartTime:   f.WindowStart.UTC(),
		EndTime:     f.WindowEnd.UTC(),
		Addresses:   []alert.Address{},
		Confidence:  f.Confidence,
		Shape:       findingShape,
		Raw:         raw,
	}
	switch {
	case f.KeyType == vocab.KeyIP:
		if a, err := netip.ParseAddr(f.Key); err == nil {
			inc.Addresses = append(inc.Addresses, alert.Address{IP: a.Unmap(), Source: "detector"})
		}
	case f.KeyType.Identity():
		inc.Identities = []alert.Identity{{Kind: f.KeyType, Value: f.Key}}
	}
	return inc
}
