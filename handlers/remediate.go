package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
)

var errUnknownTarget = errors.New("unknown target")

// remediateQueue reconciles the targets named by a batch of reconcile requests, each
// once however many requests name it. The queue's sessions (one per policy) make this
// invocation the policy's only writer. A transient failure fails the invocation so the
// batch is redelivered (reconciling is idempotent); a request that can never succeed
// (unreadable, unknown target) is logged and dropped so it does not loop.
func remediateQueue(a *App, ctx context.Context, log zerolog.Logger, msgs []envelope.Message) (string, error) {
	targets := map[string][]queue.Message{}
	for i, m := range msgs {
		req, err := queue.Decode(m.Body)
		if err != nil {
			log.Warn().Err(err).Int("index", i).Str("message_id", m.MessageID).Msg("reconcile request set aside")
			continue
		}
		targets[req.Target] = append(targets[req.Target], req)
	}
	keys := make([]string, 0, len(targets))
	for k := range targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var retry []error
	wrote := 0
	for _, k := range keys {
		w, err := a.Reconcile(ctx, log, k)
		switch {
		case err == nil:
			if w {
				wrote++
			}
		case errors.Is(err, errUnknownTarget) || fault.Of(err) != fault.Retry:
			log.Error().Err(err).Str("target", k).Msg("reconcile request cannot succeed: dropped")
		default:
			retry = append(retry, err)
		}
	}
	summary := fmt.Sprintf("%d requests for %d targets, %d policies written", len(msgs), len(keys), wrote)
	return summary, errors.Join(retry...)
}
