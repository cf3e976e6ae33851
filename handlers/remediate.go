package handlers

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/queue"
)

// remediateQueue reconciles the targets named by a batch of reconcile requests. The
// queue's sessions (one per policy) make this invocation the policy's only writer. A
// message that cannot be read is logged and dropped: it reads no better on redelivery.
func remediateQueue(a *App, ctx context.Context, log zerolog.Logger, msgs []envelope.Message) (string, error) {
	reqs := make([]queue.Message, 0, len(msgs))
	for i, m := range msgs {
		req, err := queue.Decode(m.Body)
		if err != nil {
			log.Warn().Err(err).Int("index", i).Str("message_id", m.MessageID).Msg("reconcile request set aside")
			continue
		}
		reqs = append(reqs, req)
	}
	return a.Ops.Remediate(ctx, log, reqs)
}
