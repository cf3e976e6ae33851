package handlers

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
)

// triageTimer runs the monthly triage (06:00 UTC on the 1st). A failure fails the
// invocation, so the timer's retry policy runs it again; a rerun replaces the month's
// report and proposes nothing twice.
func triageTimer(a *App, ctx context.Context, log zerolog.Logger, t *envelope.Timer) (string, error) {
	if t != nil && t.IsPastDue {
		log.Warn().Msg("triage timer is past due")
	}
	return a.Ops.Triage(ctx, log)
}
