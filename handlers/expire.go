package handlers

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
)

// expireTimer runs the expiry sweep and the periodic repair (every 5 minutes). A
// failure fails the invocation, so the timer's retry policy runs it again; the work is
// idempotent.
func expireTimer(a *App, ctx context.Context, log zerolog.Logger, t *envelope.Timer) (string, error) {
	if t != nil && t.IsPastDue {
		log.Warn().Msg("expire timer is past due")
	}
	return a.Ops.Expire(ctx, log)
}
