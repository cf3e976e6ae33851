package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// Response is what the handler answers: {"Outputs": {...}, "Logs": [...], "ReturnValue": ...}.
//
// The host base64-decodes a string output that happens to be valid base64 ("test"), so
// outputs should be JSON objects or arrays; a Service Bus output given an array sends
// one message per element.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// HTTPResponse is the value of an "http" output binding (conventionally "res").
type HTTPResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body"`
}

// SetHTTP sets the HTTP output binding named binding.
func (r *Response) SetHTTP(binding string, res HTTPResponse) {
	if r.Outputs == nil {
		r.Outputs = map[string]any{}
	}
	r.Outputs[binding] = res
}

// Log appends a line to Logs, which the host writes to the function's invocation log.
func (r *Response) Log(format string, args ...any) {
	r.Logs = append(r.Logs, fmt.Sprintf(format, args...))
}

// Write answers the host: 200 with the response as JSON. Outputs and Logs are written
// as {} and [] when empty, never null. The body is encoded before anything is sent, so
// an error (an output that cannot be encoded) leaves w untouched for a 500.
func (r *Response) Write(w http.ResponseWriter) error {
	out := *r
	if out.Outputs == nil {
		out.Outputs = map[string]any{}
	}
	if out.Logs == nil {
		out.Logs = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // bodies are read by the host, not rendered in a page
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("envelope: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("envelope: write response: %w", err)
	}
	return nil
}
