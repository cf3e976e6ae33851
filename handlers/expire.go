package handlers

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
)

// expireTimer removes desired blocks past their expiry (every 5 minutes) and asks
// every policy for a reconcile. A failure
// fails the invocation, so the timer's retry policy runs it again; the work is
// idempotent.
func expireTimer(a *App, ctx context.Context, log zerolog.Logger, t *envelope.Timer) (string, error) {
	svc, err := a.Responder()
	if err != nil {
		return "", err
	}
	if t != nil && t.IsPastDue {
		log.Warn().Msg("expire timer is past due")
	}
	expired, err := svc.Expire(ctx, log)
	summary := fmt.Sprintf("expired %d desired blocks", len(expired))
	if err != nil {
		return summary, err
	}
	// Periodic repair: every run also asks each policy for a reconcile, so owned rules
	// deleted or edited by someone else come back within one timer period.
	if err := a.RequestRepair(ctx, "periodic repair"); err != nil {
		return summary, err
	}
	return summary, nil
}
