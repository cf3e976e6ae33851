package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/respond"
)

// alertsResponse is the answer to an accepted alert body.
type alertsResponse struct {
	Incidents []respond.Outcome `json:"incidents"`
	Rejected  []alert.Rejected  `json:"rejected,omitempty"`
}

// alertsHTTP takes Defender alerts in any accepted shape and answers 202 with each
// incident's id and decisions. It also answers the Event Grid validation handshakes.
func alertsHTTP(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse {
	switch req.Method {
	case http.MethodOptions:
		return webhookValidation(req)
	case http.MethodPost:
	default:
		return errorResponse(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: POST an alert", req.Method))
	}
	if int64(len(req.Body)) > a.Config.MaxBodyBytes {
		return errorResponse(http.StatusRequestEntityTooLarge,
			fmt.Errorf("body of %d bytes exceeds the limit of %d (APIGUARD_MAX_BODY_BYTES)", len(req.Body), a.Config.MaxBodyBytes))
	}
	batch, err := alert.Decode(req.Body, req.Headers)
	if err != nil {
		log.Warn().Err(err).Msg("alert rejected")
		return errorResponse(fault.StatusOf(err), err)
	}
	if batch.ValidationCode != "" {
		log.Info().Msg("Event Grid subscription validation answered")
		return jsonResponse(http.StatusOK, map[string]string{"validationResponse": batch.ValidationCode})
	}
	svc, err := a.Responder()
	if err != nil {
		log.Error().Err(err).Msg("alert service unavailable")
		return errorResponse(http.StatusServiceUnavailable, err)
	}
	out := alertsResponse{Incidents: make([]respond.Outcome, 0, len(batch.Incidents)), Rejected: batch.Rejected}
	for _, inc := range batch.Incidents {
		o, err := svc.Alert(ctx, log, inc)
		if err != nil {
			// Every write is idempotent, so the caller's retry completes what this
			// attempt started and repeats nothing already decided.
			log.Error().Err(err).Str("incident", inc.ID).Msg("alert not decided")
			return errorResponse(fault.StatusOf(err), fmt.Errorf("incident %s: %w", inc.ID, err))
		}
		ev := log.Info().Str("incident", inc.ID).Str("alert_type", inc.AlertType).Bool("duplicate", o.Duplicate)
		for _, d := range o.Decisions {
			ev = ev.Str(fmt.Sprintf("decision_%d", d.Index), string(d.Action)+" "+d.Address)
		}
		ev.Msg("alert decided")
		out.Incidents = append(out.Incidents, o)
	}
	for _, r := range batch.Rejected {
		log.Warn().Int("index", r.Index).Str("reason", r.Reason).Msg("batch element set aside")
	}
	return jsonResponse(http.StatusAccepted, out)
}

// webhookValidation answers the CloudEvents webhook abuse-protection handshake
// (an OPTIONS request carrying WebHook-Request-Origin).
func webhookValidation(req *envelope.HTTPRequest) envelope.HTTPResponse {
	origin := req.Headers.Get("WebHook-Request-Origin")
	if origin == "" {
		return envelope.HTTPResponse{StatusCode: http.StatusNoContent, Headers: map[string]string{"Allow": "POST, OPTIONS"}}
	}
	h := map[string]string{"WebHook-Allowed-Origin": origin, "Allow": "POST, OPTIONS"}
	if req.Headers.Get("WebHook-Request-Rate") != "" {
		h["WebHook-Allowed-Rate"] = "*"
	}
	return envelope.HTTPResponse{StatusCode: http.StatusOK, Headers: h}
}

func jsonResponse(status int, v any) envelope.HTTPResponse {
	body, err := json.Marshal(v)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, err)
	}
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}

func errorResponse(status int, err error) envelope.HTTPResponse {
	body, _ := json.Marshal(map[string]string{"error": err.Error()})
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}
