package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/record"
)

// Idempotency keeps the first answer to a request per Idempotency-Key:
// *record.Store online, *record.Memory in tests.
type Idempotency interface {
	ClaimIdempotency(ctx context.Context, scope, key, requestHash string, now time.Time, ttl time.Duration) (record.IdempotencyRecord, bool, error)
	FinishIdempotency(ctx context.Context, scope, key string, status int, contentType string, body []byte, keepUntil time.Time) error
	ReleaseIdempotency(ctx context.Context, scope, key string) error
}

// keyTTL is how long an answer is kept: a Logic App's retries of one action end well
// within it. claimTTL is how long a request in progress holds its key: a request
// that died on the way frees it for the retry after that.
const (
	keyTTL   = 24 * time.Hour
	claimTTL = 5 * time.Minute
)

// maxKey bounds an Idempotency-Key.
const maxKey = 200

// idempotent serves a POST or DELETE once per Idempotency-Key: the first request
// runs and its answer is kept; a retry with the same key and the same request gets
// that answer again; the same key with another request is refused (422); a retry
// while the first is still running is told to wait (409). A transient failure is
// not kept, so the retry runs again. Without the header the request simply runs.
func (a *API) idempotent(w http.ResponseWriter, c *call, r route) {
	key := strings.TrimSpace(c.req.Header.Get("Idempotency-Key"))
	if key == "" || a.keys == nil {
		a.answer(w, c, r)
		return
	}
	if len(key) > maxKey {
		a.problem(w, c.req, &problem{Type: "invalid-parameter", Status: http.StatusBadRequest, Field: "Idempotency-Key",
			Detail: "Idempotency-Key: at most 200 characters"})
		return
	}
	sum := sha256.Sum256([]byte(c.req.Method + " " + c.req.URL.RequestURI() + "\n" + c.actor + "\n" + string(c.body)))
	hash := hex.EncodeToString(sum[:])
	scope := "api"
	rec, claimed, err := a.keys.ClaimIdempotency(c.ctx, scope, key, hash, a.now().UTC(), claimTTL)
	if err != nil {
		a.problem(w, c.req, a.problemOf(c, err))
		return
	}
	if !claimed {
		switch {
		case rec.RequestHash != hash:
			a.problem(w, c.req, &problem{Type: "idempotency-key-reused", Status: http.StatusUnprocessableEntity, Field: "Idempotency-Key",
				Detail: "this Idempotency-Key was used for another request in the last 24h: use a new key per request"})
		case rec.Status == 0:
			a.problem(w, c.req, &problem{Type: "idempotency-key-busy", Status: http.StatusConflict, Field: "Idempotency-Key",
				Detail: "the first request with this Idempotency-Key is still running: retry in a moment", RetryAfter: 1})
		default:
			if rec.ContentType != "" {
				w.Header().Set("Content-Type", rec.ContentType)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
		}
		return
	}
	rw := httptest.NewRecorder()
	status, ct, body := a.answer(rw, c, r)
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(bytes.Clone(rw.Body.Bytes()))
	// Keep the answer, unless the failure was the service's: then the retry must run.
	ctx, cancel := c.detached()
	defer cancel()
	if status >= 500 {
		if err := a.keys.ReleaseIdempotency(ctx, scope, key); err != nil {
			c.log.Error().Err(err).Msg("Idempotency-Key not released: a retry is told to wait until it expires")
		}
		return
	}
	if err := a.keys.FinishIdempotency(ctx, scope, key, status, ct, body, a.now().UTC().Add(keyTTL)); err != nil {
		c.log.Error().Err(err).Msg("answer not kept for its Idempotency-Key")
	}
}

// detached is the call's context for bookkeeping after the answer is decided: the
// client going away must not leave its key half-kept, but the invocation's deadline
// still holds, so a hung store cannot keep the answer waiting past the budget.
func (c *call) detached() (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(c.ctx)
	if d, ok := c.ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d)
	}
	return ctx, func() {}
}
