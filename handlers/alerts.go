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
)

// alertsHTTP takes Defender alerts in any accepted shape and answers 202 with each
// incident's id and decisions. It also answers the Event Grid and CloudEvents
// validation handshakes.
func alertsHTTP(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse {
	switch req.Method {
	case http.MethodOptions:
		return webhookValidation(req)
	case http.MethodPost:
	default:
		return errorResponse(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: POST an alert", req.Method))
	}
	if err := a.checkSize(req.Body, ""); err != nil {
		return errorResponse(fault.StatusOf(err), err)
	}
	answer, err := a.Ops.Alerts(ctx, log, req.Body, req.Headers)
	if err != nil {
		return failed(log, "alert not decided", err)
	}
	return jsonResponse(answer)
}

// webhookValidation answers the CloudEvents webhook abuse-protection handshake
// (an OPTIONS request carrying WebHook-Request-Origin), echoing the origin only when it
// is a DNS name.
func webhookValidation(req *envelope.HTTPRequest) envelope.HTTPResponse {
	origin := req.Headers.Get("WebHook-Request-Origin")
	if origin == "" {
		return envelope.HTTPResponse{StatusCode: http.StatusNoContent, Headers: map[string]string{"Allow": "POST, OPTIONS"}}
	}
	if err := alert.CheckWebhookOrigin(origin); err != nil {
		return errorResponse(http.StatusBadRequest, err)
	}
	h := map[string]string{"WebHook-Allowed-Origin": origin, "Allow": "POST, OPTIONS"}
	if req.Headers.Get("WebHook-Request-Rate") != "" {
		h["WebHook-Allowed-Rate"] = "*"
	}
	return envelope.HTTPResponse{StatusCode: http.StatusOK, Headers: h}
}

// checkSize refuses a body over APIGUARD_MAX_BODY_BYTES with a 413 naming the limit.
func (a *App) checkSize(body []byte, hint string) error {
	if int64(len(body)) <= a.Config.MaxBodyBytes {
		return nil
	}
	return fault.Rejected(http.StatusRequestEntityTooLarge,
		fmt.Errorf("body of %d bytes exceeds the limit of %d (APIGUARD_MAX_BODY_BYTES)%s", len(body), a.Config.MaxBodyBytes, hint))
}

// jsonResponse encodes an operation's answer: 200, or the status the answer names.
func jsonResponse(answer any) envelope.HTTPResponse {
	status := http.StatusOK
	if s, ok := answer.(interface{ HTTPStatus() int }); ok {
		status = s.HTTPStatus()
	}
	body, err := json.Marshal(answer)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, err)
	}
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}

// failed answers an operation's error with its status, logging a transient fault as an
// error and a rejected input as a warning.
func failed(log zerolog.Logger, what string, err error) envelope.HTTPResponse {
	ev := log.Warn()
	if fault.Of(err) == fault.Retry {
		ev = log.Error()
	}
	ev.Err(err).Msg(what)
	return errorResponse(fault.StatusOf(err), err)
}

func errorResponse(status int, err error) envelope.HTTPResponse {
	body, _ := json.Marshal(map[string]string{"error": err.Error()})
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}
