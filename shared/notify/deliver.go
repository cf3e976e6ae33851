package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StatusError is a target's answer other than 2xx.
type StatusError struct {
	StatusCode int
	Body       string        // the start of the answer's body, for the log
	RetryAfter time.Duration // from a Retry-After header in seconds, if any
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Retryable reports whether the same request may succeed later: 408, 429 and 5xx.
// Any other answer (a 4xx, or a 3xx the client did not follow) is final.
func (e *StatusError) Retryable() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// permanentError marks a failure no retry can fix (a request that cannot be built).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retryable: status answers by their code; network errors and timeouts are retried.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	var pe permanentError
	return !errors.As(err, &pe)
}

// deliver sends one event to one target, retrying as Options say; a final failure
// goes to OnFailure.
func (d *Dispatcher) deliver(l *lane, p prepared) {
	payload, contentType, err := body(l.target, p, d.opts.Source)
	if err != nil {
		d.fail(l, p.Event, err)
		return
	}
	for attempt := 1; ; attempt++ {
		err := d.attempt(l.target, payload, contentType)
		if err == nil {
			l.log.Debug().Str("event_id", p.ID).Int("attempt", attempt).Msg("notification delivered")
			return
		}
		switch {
		case d.ctx.Err() != nil:
			d.fail(l, p.Event, fmt.Errorf("%w during attempt %d: %w", ErrClosed, attempt, err))
			return
		case !retryable(err):
			d.fail(l, p.Event, fmt.Errorf("final answer, not retried: %w", err))
			return
		case attempt >= d.opts.Attempts:
			d.fail(l, p.Event, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
			return
		}
		wait := backoff(d.opts.Backoff, d.opts.MaxBackoff, attempt, rand.Int64N)
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > wait {
			wait = min(se.RetryAfter, d.opts.MaxBackoff)
		}
		l.log.Info().Err(err).Str("event_id", p.ID).Int("attempt", attempt).Dur("wait", wait).Msg("notification attempt failed: retrying")
		if err := d.opts.Sleep(d.ctx, wait); err != nil {
			d.fail(l, p.Event, fmt.Errorf("%w while waiting to retry after attempt %d: %w", ErrClosed, attempt, err))
			return
		}
	}
}

// attempt POSTs payload to t once, within the attempt timeout.
func (d *Dispatcher) attempt(t Target, payload []byte, contentType string) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(payload))
	if err != nil {
		return permanentError{fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "apiguard-notify")
	if t.Header != "" {
		req.Header.Set(t.Header, t.Secret)
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL) // a chat webhook's path is its credential
		}
		return err
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &StatusError{StatusCode: resp.StatusCode, Body: printable(string(head), 200), RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// backoff is the wait after a failed attempt (1-based): the ceiling doubles from base
// up to limit, and the wait lies in [ceiling/2, ceiling] (jitter keeps retries of many
// events from arriving in step). rnd(n) returns a number in [0, n).
func backoff(base, limit time.Duration, attempt int, rnd func(n int64) int64) time.Duration {
	ceiling := limit
	if attempt-1 < 62 && base <= limit>>(attempt-1) {
		ceiling = base << (attempt - 1)
	}
	half := ceiling / 2
	return half + time.Duration(rnd(int64(ceiling-half)+1))
}

// retryAfter reads a Retry-After in seconds; an HTTP date or nonsense gives 0.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(min(s, 3600)) * time.Second
}

// redactURL keeps a URL's scheme and host: what names the target in an error without
// the path and query, where Slack and Teams webhook URLs carry their credential.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(target URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// printable keeps the start of a body for a log line: control characters become
// spaces, and it is cut at n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, clip(s, n))
	return strings.TrimSpace(s)
}
