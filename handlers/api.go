package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
)

// apiHTTP is the control API (/api/v1/...): the request rebuilt from the envelope,
// served by the application's API handler, the answer put back in the envelope.
func apiHTTP(a *App, ctx context.Context, log zerolog.Logger, req *envelope.HTTPRequest) envelope.HTTPResponse {
	u, err := url.Parse(req.URL)
	if err != nil {
		return errorResponse(http.StatusBadRequest, fmt.Errorf("request URL %q: %w", req.URL, err))
	}
	r, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return errorResponse(http.StatusBadRequest, err)
	}
	r.Header = req.Headers.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	w := httptest.NewRecorder()
	a.Ops.API().ServeHTTP(w, r)
	out := envelope.HTTPResponse{StatusCode: w.Code, Headers: map[string]string{}, Body: w.Body.String()}
	for k, v := range w.Header() {
		if len(v) > 0 {
			out.Headers[k] = v[0]
		}
	}
	return out
}
