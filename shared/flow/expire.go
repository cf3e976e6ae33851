package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Expired is one desired block removed by expiry.
type Expired struct {
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Expires time.Time `json:"expires"`
}

// Expire is the expire timer's run: it removes the desired blocks past their expiry,
// asks the targets that held them for a reconcile, and then asks every target for one
// (the periodic repair: owned rules deleted or edited by someone else come back within
// one timer period). Everything is idempotent, so a failed run is simply run again.
func (a *App) Expire(ctx context.Context, log zerolog.Logger) (string, error) {
	expired, err := a.Sweep(ctx, log)
	summary := fmt.Sprintf("expired %d desired blocks", len(expired))
	if err != nil {
		return summary, err
	}
	lapsed, err := a.lapsePending(ctx)
	summary += fmt.Sprintf(", %d pending decisions lapsed", lapsed)
	if err != nil {
		return summary, err
	}
	if err := a.RequestRepair(ctx, "periodic repair"); err != nil {
		return summary, err
	}
	// Health is evaluated here, on the timer's period, so a change of status is
	// announced even when nobody asks.
	status, err := a.checkHealth(ctx, log)
	return summary + ", health " + status, err
}

// Sweep removes every desired block past its expiry and audits each removal. A block
// extended between the scan and the delete (ETag changed) is left alone.
func (a *App) Sweep(ctx context.Context, log zerolog.Logger) ([]Expired, error) {
	now := a.now().UTC()
	var out []Expired
	var errs []error
	var gone []vocab.Action
	for _, action := range vocab.EnforcingActions() {
		blocks, err := a.store.ListExpiredBlocks(ctx, string(action), now)
		if err != nil {
			errs = append(errs, fmt.Errorf("list expired %s: %w", action, err))
			continue
		}
		for _, b := range blocks {
			removed, err := a.expire(ctx, log, b, now)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if removed {
				out = append(out, Expired{Action: b.Action, Target: b.Target, Expires: b.Expires})
				if len(gone) == 0 || gone[len(gone)-1] != action {
					gone = append(gone, action)
				}
			}
		}
	}
	if err := a.requestReconcile(ctx, gone, "expiry"); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// expire removes one block, audit first with an id fixed by the block's expiry, so a
// failure between the two writes leaves a record and a retried run rewrites the same one.
func (a *App) expire(ctx context.Context, log zerolog.Logger, b record.Block, now time.Time) (bool, error) {
	id := "expire-" + b.Action + "-" + b.Target + "-" + b.Expires.UTC().Format("20060102T150405Z")
	detail, _ := json.Marshal(map[string]any{"before": blockView(b)})
	ev := record.AuditEvent{Time: now, ID: id, Kind: "block.expired", Subject: b.Action + ":" + b.Target, Actor: "expire", Detail: detail}
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
		return false, fmt.Errorf("audit expiry of %s: %w", b.Target, err)
	}
	if err := a.store.DeleteBlock(ctx, b); err != nil {
		if !errors.Is(err, record.ErrConflict) {
			return false, fmt.Errorf("delete expired %s %s: %w", b.Action, b.Target, err)
		}
		// Extended since the scan: the block stays, and the same audit entry is
		// rewritten to say so.
		ev.Kind = "block.expiry_cancelled"
		if err := a.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
			return false, fmt.Errorf("audit kept block %s: %w", b.Target, err)
		}
		log.Info().Str("target", b.Target).Str("action", b.Action).Msg("block changed since the scan: kept")
		return false, nil
	}
	log.Info().Str("target", b.Target).Str("action", b.Action).Time("expired", b.Expires).Msg("desired block expired")
	a.announceChange(notify.TypeBlockRemoved, b, "expired")
	return true, nil
}
