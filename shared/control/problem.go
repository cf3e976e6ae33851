package control

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problemBase makes a problem's type an absolute URI that names it for good: callers
// branch on it, never on the detail text.
const problemBase = "urn:apiguard:problem:"

// problemTitles are the stable problem types and their titles.
var problemTitles = map[string]string{
	"invalid-parameter":      "A parameter is invalid",
	"invalid-body":           "The request body is invalid",
	"invalid-request":        "The request is invalid",
	"not-found":              "Not found",
	"method-not-allowed":     "Method not allowed",
	"conflict":               "The current state does not allow this",
	"refused":                "Refused",
	"too-large":              "The request is too large",
	"unsupported-media-type": "Unsupported media type",
	"idempotency-key-reused": "The Idempotency-Key was used for another request",
	"idempotency-key-busy":   "A request with this Idempotency-Key is in progress",
	"unauthorized":           "A valid API key is required",
	"unavailable":            "Temporarily unavailable",
	"internal":               "Internal error",
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Field names the invalid input (a parameter, a body field or a header).
	Field string `json:"field,omitempty"`
	// ErrorID, on a 5xx, is the request id under which the log holds the full error;
	// the answer itself says no more than that apiguard failed.
	ErrorID string `json:"errorId,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header of a 503.
	RetryAfter int `json:"-"`
}

func (p *problem) Error() string { return p.Detail }

// problem writes p as application/problem+json and returns what it wrote.
func (a *API) problem(w http.ResponseWriter, req *http.Request, p *problem) (int, string, []byte) {
	out := *p
	if title, ok := problemTitles[out.Type]; ok {
		out.Title = title
	} else {
		out.Type, out.Title = "internal", problemTitles["internal"]
	}
	out.Type = problemBase + out.Type
	if out.Instance == "" && req != nil {
		out.Instance = req.URL.Path
	}
	body, _ := json.Marshal(out)
	const ct = "application/problem+json"
	w.Header().Set("Content-Type", ct)
	if out.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.RetryAfter))
	}
	w.WriteHeader(out.Status)
	_, _ = w.Write(body)
	return out.Status, ct, body
}

// Problem is the problem details document as the OpenAPI document and clients see it.
type Problem = problem
