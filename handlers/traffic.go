package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	return jsonResponse(log, answer)
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

// trafficEventHub processes the gateway logs diagnostic settings stream to Event Hubs.
// Each event body is one Azure Monitor document ({"records": [...]}) and becomes one
// log batch, named by hub, partition and sequence number: those never change, so an
// event read again (a retry of the invocation, or a replay from the last checkpoint
// after a crash, which may group events differently) is recognised and not counted
// twice. An event that cannot be read is set aside by the application with its batch
// id and reason while the others are processed; a transient fault fails the
// invocation, and the function's retry policy runs the batch again.
func trafficEventHub(a *App, ctx context.Context, log zerolog.Logger, b *envelope.EventBatch) (string, error) {
	hub := b.Partition.EventHub
	if hub == "" {
		hub = a.Config.TrafficHub
	}
	hub = strings.ToLower(hub) // event hub names are case-insensitive
	log = log.With().Str("event_hub", hub).Str("partition", b.Partition.ID).Logger()
	batches := make([]queue.LogBatch, len(b.Events))
	hashed := 0
	for i, e := range b.Events {
		format, _ := e.Properties["format"].(string)
		batches[i] = queue.LogBatch{ID: eventBatchID(hub, b.Partition.ID, e), Body: e.Body, Format: format}
		if e.SequenceNumber == envelope.NoSequenceNumber || b.Partition.ID == "" {
			hashed++
		}
	}
	if hashed > 0 {
		log.Warn().Int("events", hashed).Msg("no partition or sequence number from the host: those events are named by their bodies' hashes")
	}
	summary, err := a.Ops.Traffic(ctx, log, batches)
	if n := len(b.Events); n > 0 {
		summary = fmt.Sprintf("partition %s, sequence %d-%d: %s", b.Partition.ID, b.Events[0].SequenceNumber, b.Events[n-1].SequenceNumber, summary)
	}
	return summary, err
}

// eventBatchID names one event's log batch: "eh:<hub>/<partition>/<sequence number>".
// Without a partition or sequence number from the host the body's hash stands in for
// the position: still the same when the event is read again. The consumer group is
// left out on purpose: reading the hub afresh under another group must not count
// events already counted.
func eventBatchID(hub, partition string, e envelope.Event) string {
	if partition == "" || e.SequenceNumber == envelope.NoSequenceNumber {
		return "eh:" + hub + "/" + partition + "/" + bodyID(e.Body)
	}
	return "eh:" + hub + "/" + partition + "/" + strconv.FormatInt(e.SequenceNumber, 10)
}

func bodyID(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
