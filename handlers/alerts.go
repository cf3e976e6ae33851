package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

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
	return jsonResponse(log, answer)
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
func jsonResponse(log zerolog.Logger, answer any) envelope.HTTPResponse {
	status := http.StatusOK
	if s, ok := answer.(interface{ HTTPStatus() int }); ok {
		status = s.HTTPStatus()
	}
	body, err := json.Marshal(answer)
	if err != nil {
		return serverFault(log, "answer not encodable", http.StatusInternalServerError, err)
	}
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}

// retryAfterSeconds is the Retry-After of a 503: a dependency that failed or hung
// is given a few seconds before the caller tries again (Logic Apps and the CLI honour
// it; Event Grid keeps its own schedule).
const retryAfterSeconds = 5

// failed answers an operation's error. A rejection names what is wrong with the
// caller's input (4xx, logged as a warning). Anything else is apiguard's fault: the
// answer says only that, with an error id, and the full error (storage address, SDK
// dump) goes to the log under that id, where an operator finds it.
func failed(log zerolog.Logger, what string, err error) envelope.HTTPResponse {
	status := fault.StatusOf(err)
	if status < http.StatusInternalServerError {
		log.Warn().Err(err).Int("status", status).Msg(what)
		return errorResponse(status, err)
	}
	return serverFault(log, what, status, err)
}

// serverFault answers a 5xx: generic text and an error id; the log line has the id and
// the full error.
func serverFault(log zerolog.Logger, what string, status int, err error) envelope.HTTPResponse {
	id := newErrorID()
	log.Error().Err(err).Str("error_id", id).Int("status", status).Msg(what)
	body, _ := json.Marshal(map[string]string{"error": serverErrorText(status), "errorId": id})
	h := map[string]string{"Content-Type": "application/json"}
	if status == http.StatusServiceUnavailable {
		h["Retry-After"] = strconv.Itoa(retryAfterSeconds)
	}
	return envelope.HTTPResponse{StatusCode: status, Headers: h, Body: string(body)}
}

// serverErrorText is all a caller learns of a 5xx.
func serverErrorText(status int) string {
	if status == http.StatusServiceUnavailable {
		return "apiguard could not complete the request: a dependency is unavailable or did not answer in time; retry later (the log has the details under errorId)"
	}
	return "apiguard failed to complete the request (the log has the details under errorId)"
}

// errorResponse answers a rejection of the caller's input (4xx), saying what is wrong.
// Server faults go through failed.
func errorResponse(status int, err error) envelope.HTTPResponse {
	body, _ := json.Marshal(map[string]string{"error": err.Error()})
	return envelope.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
}

// newErrorID ties a 5xx answer to its log line.
func newErrorID() string { return newInvocationID()[:16] }
