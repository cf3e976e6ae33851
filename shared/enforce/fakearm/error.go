package fakearm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Error is an ARM failure answered as a real HTTP response, so azcore's retry policy
// and runtime.NewResponseError see what they would see from Azure.
type Error struct {
	Status  int
	Code    string // error.code of the body, which azcore reads as ErrorCode
	Message string
	Header  http.Header // extra headers (Retry-After...)
}

// Response is the answer to req: the status, the ARM error body
// {"error":{"code","message"}}, a JSON content type and the Date header.
func (e *Error) Response(req *http.Request) *http.Response {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
	h := http.Header{}
	for k, v := range e.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status)),
		StatusCode:    e.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// Throttled is ARM's answer when the subscription's write bucket is empty: 429 with
// Retry-After in whole seconds (rounded up), Retry-After-Ms when d is not a whole
// number of seconds, and no writes left.
func Throttled(subscription string, d time.Duration) *Error {
	secs := int64((d + time.Second - 1) / time.Second)
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	if d%time.Second != 0 {
		h.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
	h.Set("x-ms-ratelimit-remaining-subscription-writes", "0")
	return &Error{Status: http.StatusTooManyRequests, Code: "SubscriptionRequestsThrottled", Header: h,
		Message: fmt.Sprintf("Number of 'write' requests for subscription '%s' exceeded. Please try again after '%d' seconds after additional tokens are available.", subscription, secs)}
}
