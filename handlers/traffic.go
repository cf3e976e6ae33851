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

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/respond"
	"github.com/apiguard/apiguard/shared/traffic"
)

// trafficResult is what one log batch gave.
type trafficResult struct {
	Batch     string             `json:"batch"`
	Format    traffic.Format     `json:"format"`
	Records   int                `json:"records"`
	SetAside  []traffic.SetAside `json:"set_aside,omitempty"`
	Findings  []detect.Finding   `json:"findings"`
	Incidents []respond.Outcome  `json:"incidents,omitempty"`
}

// maxSetAsideReported bounds the reasons an answer carries; the count is always exact
// in the log.
const maxSetAsideReported = 100

// processTraffic decodes one batch, runs the detectors on it (state in Table Storage,
// so counts add up across batches and instances; a batch id already applied is not
// counted again) and decides every finding through the playbook.
func (a *App) processTraffic(ctx context.Context, log zerolog.Logger, batchID string, body []byte, format string) (trafficResult, error) {
	res := trafficResult{Batch: batchID, Findings: []detect.Finding{}}
	engine, err := a.Detector()
	if err != nil {
		return res, err
	}
	if format == "" {
		format = a.Config.TrafficFormat
	}
	batch, err := traffic.Decode(body, traffic.Options{Format: traffic.Format(format), Trust: traffic.Trust{Proxies: a.Config.TrustedProxies}})
	if err != nil {
		return res, err
	}
	res.Format, res.Records = batch.Format, len(batch.Records)
	res.SetAside = batch.SetAside[:min(len(batch.SetAside), maxSetAsideReported)]
	if n := len(batch.SetAside); n > 0 {
		log.Warn().Int("set_aside", n).Str("first_reason", batch.SetAside[0].Reason).Msg("records set aside")
	}
	findings, err := engine.Process(ctx, batchID, batch.Records)
	if err != nil {
		return res, fmt.Errorf("detect: %w", err)
	}
	res.Findings = append(res.Findings, findings...)
	if len(findings) == 0 {
		return res, nil
	}
	svc, err := a.Responder()
	if err != nil {
		return res, err
	}
	for _, f := range findings {
		o, err := svc.Finding(ctx, log, f)
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

// ingestHTTP takes one log batch in the body (format from ?format=, else the setting,
// else detected). The batch id is the Idempotency-Key header when given, else the
// body's hash, so a retried POST is not counted twice.
func ingestHTTP(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse {
	if req.Method != http.MethodPost {
		return errorResponse(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: POST a log batch", req.Method))
	}
	if int64(len(req.Body)) > a.Config.MaxBodyBytes {
		return errorResponse(http.StatusRequestEntityTooLarge,
			fmt.Errorf("body of %d bytes exceeds the limit of %d (APIGUARD_MAX_BODY_BYTES): split the batch", len(req.Body), a.Config.MaxBodyBytes))
	}
	if len(strings.TrimSpace(string(req.Body))) == 0 {
		return errorResponse(http.StatusBadRequest, errors.New("empty body: POST a batch of gateway log records"))
	}
	id := strings.TrimSpace(req.Headers.Get("Idempotency-Key"))
	if id == "" || len(id) > 200 {
		id = bodyID(req.Body)
	}
	res, err := a.processTraffic(ctx, log, "http:"+id, req.Body, req.Query["format"])
	if err != nil {
		log.Warn().Err(err).Msg("log batch not processed")
		return errorResponse(fault.StatusOf(err), err)
	}
	return jsonResponse(http.StatusOK, res)
}

// trafficQueue processes log batches from Service Bus, one batch per message; the
// message id is the batch id, so a redelivered message is not counted twice. A batch
// that can never be read (unknown format, too large) is logged with its reason and
// completed; a transient fault fails the invocation so the host redelivers (and, past
// the queue's max delivery count, dead-letters).
func trafficQueue(a *App, ctx context.Context, log zerolog.Logger, msgs []envelope.Message) (string, error) {
	var retry []error
	records, findings, refused := 0, 0, 0
	for i, m := range msgs {
		id := m.MessageID
		if id == "" {
			id = bodyID(m.Body)
		}
		format, _ := m.Properties["format"].(string)
		res, err := a.processTraffic(ctx, log, "sb:"+id, m.Body, format)
		records += res.Records
		findings += len(res.Findings)
		switch {
		case err == nil:
		case fault.Of(err) == fault.Retry:
			retry = append(retry, fmt.Errorf("message %s: %w", id, err))
		default:
			refused++
			log.Error().Err(err).Int("index", i).Str("message_id", m.MessageID).Msg("log batch cannot be read: set aside")
		}
	}
	summary := fmt.Sprintf("%d batches, %d records, %d findings, %d batches refused", len(msgs), records, findings, refused)
	return summary, errors.Join(retry...)
}

func bodyID(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
