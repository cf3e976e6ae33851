// Package armfault maps Azure Resource Manager errors to apiguard's dispositions, once
// for every ARM backend (WAF policies, API Management): 412 is a precondition
// failure, 429 a throttle with its Retry-After, 408/5xx/network faults transient, other
// 4xx rejections carrying the service's status and code.
package armfault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/fault"
)

const (
	// defaultRetryAfter applies when a 429 names no delay: about what ARM's write
	// bucket needs to refill a burst.
	defaultRetryAfter = 10 * time.Second
	// maxRetryAfter caps a server-given delay, so a bad header cannot park a target.
	maxRetryAfter = 5 * time.Minute
)

// serviceError is a failed ARM call told in one line (the SDK's own message is a
// multi-line dump). It unwraps to the *azcore.ResponseError, so callers can still
// branch on StatusCode and ErrorCode.
type serviceError struct {
	op, target string
	status     int
	code, msg  string
	note       string
	err        *azcore.ResponseError
}

func (e *serviceError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.op, e.target, e.status)
	if e.code != "" {
		s += " " + e.code
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.note != "" {
		s += " (" + e.note + ")"
	}
	return s
}

func (e *serviceError) Unwrap() error { return e.err }

// busy reports the 409 codes ARM uses for "busy, try again": another operation on
// the resource is still running (a gateway update, a scale of the APIM instance).
func busy(code string) bool {
	return code == "AnotherOperationInProgress" || code == "RetryableError"
}

// Classify turns an SDK error into the enforce.Backend contract: 412 wraps
// ErrPrecondition, 429 is a *ThrottledError, 408/5xx/network are transient, other 4xx
// are rejections carrying the service's status and code. It branches on status and
// error code only, never on message text. missing is added to a 404's message: what
// must exist for the call to succeed.
func Classify(op, target string, err error, now time.Time, missing string) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s %s: %w", op, target, err)
		}
		return fault.Transient(fmt.Errorf("%s %s: %w", op, target, err))
	}
	se := &serviceError{op: op, target: target, status: re.StatusCode, code: re.ErrorCode, msg: serviceMessage(re), err: re}
	switch status := re.StatusCode; {
	case status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", enforce.ErrPrecondition, se)
	case status == http.StatusTooManyRequests:
		if re.RawResponse != nil {
			if left := re.RawResponse.Header.Get("x-ms-ratelimit-remaining-subscription-writes"); left != "" {
				se.note = "remaining subscription writes: " + left
			}
		}
		return &enforce.ThrottledError{RetryAfter: RetryAfter(re.RawResponse, now), Err: fault.Transient(se)}
	case status == http.StatusRequestTimeout || status >= 500:
		return fault.Transient(se)
	case status == http.StatusConflict && busy(re.ErrorCode):
		return fault.Transient(se)
	case status == http.StatusNotFound:
		se.note = missing
		return fault.Rejected(status, se)
	case status >= 400:
		return fault.Rejected(status, se)
	default:
		// A long-running write that ended Failed/Canceled reports its final (2xx)
		// status. Nothing says retrying is futile, so let the host retry, bounded.
		return fault.Transient(se)
	}
}

// serviceMessage is error.message from an ARM error body, shortened.
func serviceMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return ""
	}
	var wire struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wire) != nil {
		return ""
	}
	msg := strings.Join(strings.Fields(wire.Error.Message), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// RetryAfter reads how long a 429 asks us to wait, in azcore's order of preference:
// retry-after-ms, x-ms-retry-after-ms, then Retry-After as delta-seconds or an
// HTTP-date (measured against the response's own Date when present, so clock skew
// between us and ARM does not matter). Absent or unreadable: 10 s; capped at 5 min.
func RetryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return defaultRetryAfter
	}
	for _, h := range []string{"Retry-After-Ms", "x-ms-retry-after-ms"} {
		if v := strings.TrimSpace(resp.Header.Get(h)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
				return clampWait(time.Duration(min(ms, int64(maxRetryAfter/time.Millisecond))) * time.Millisecond)
			}
		}
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return defaultRetryAfter
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return clampWait(time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second)
	}
	if at, err := http.ParseTime(v); err == nil {
		base := now
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			base = d
		}
		return clampWait(at.Sub(base))
	}
	return defaultRetryAfter
}

func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), maxRetryAfter)
}

// ClientOptions returns a copy of opts (nil: defaults) whose retry policy leaves 429 to
// the caller: the reconcilers honour Retry-After themselves, with an injectable sleep
// and a cap, and azcore's retry would otherwise sleep up to MaxRetryDelay per attempt
// inside one call and spend more of ARM's write budget. Status codes the caller set are
// kept.
func ClientOptions(opts *arm.ClientOptions) *arm.ClientOptions {
	var out arm.ClientOptions
	if opts != nil {
		out = *opts
	}
	if out.Retry.StatusCodes == nil {
		// azcore's defaults (policy.RetryOptions.StatusCodes) minus 429.
		out.Retry.StatusCodes = []int{
			http.StatusRequestTimeout,
			http.StatusInternalServerError,
			http.StatusBadGateway,
			http.StatusServiceUnavailable,
			http.StatusGatewayTimeout,
		}
	} else {
		out.Retry.StatusCodes = slices.Clone(out.Retry.StatusCodes)
	}
	return &out
}
