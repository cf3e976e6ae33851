package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/queue"
)

// ingestHTTP takes one log batch in the body (format from ?format=, else the setting,
// else detected). The batch id is the Idempotency-Key header when given, else the
// body's hash, so a retried POST is not counted twice.
func ingestHTTP(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse {
	if req.Method != http.MethodPost {
		return errorResponse(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: POST a log batch", req.Method))
	}
	if err := a.checkSize(req.Body, ": split the batch"); err != nil {
		return errorResponse(fault.StatusOf(err), err)
	}
	if len(strings.TrimSpace(string(req.Body))) == 0 {
		return errorResponse(http.StatusBadRequest, errors.New("empty body: POST a batch of gateway log records"))
	}
	id := strings.TrimSpace(req.Headers.Get("Idempotency-Key"))
	if id == "" || len(id) > 200 {
		id = bodyID(req.Body)
	}
	answer, err := a.Ops.Ingest(ctx, log, queue.LogBatch{ID: "http:" + id, Body: req.Body, Format: req.Query["format"]})
	if err != nil {
		return failed(log, "log batch not processed", err)
	}
	return jsonResponse(answer)
}

// trafficQueue processes log batches from Service Bus, one batch per message; the
// message id is the batch id, so a redelivered message is not counted twice.
func trafficQueue(a *App, ctx context.Context, log zerolog.Logger, msgs []envelope.Message) (string, error) {
	batches := make([]queue.LogBatch, len(msgs))
	for i, m := range msgs {
		id := m.MessageID
		if id == "" {
			id = bodyID(m.Body)
		}
		format, _ := m.Properties["format"].(string)
		batches[i] = queue.LogBatch{ID: "sb:" + id, Body: m.Body, Format: format}
	}
	return a.Ops.Traffic(ctx, log, batches)
}

func bodyID(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
