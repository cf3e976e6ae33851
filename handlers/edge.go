package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
)

// functionTimeout is host.json's functionTimeout: the Functions host abandons a run
// after it, so a timer or queue run needs no more (a test ties the two). The
// standalone server gives its admin runs the same bound.
const functionTimeout = time.Hour

// retryAfter is the Retry-After of a 503 for too many requests at once, in seconds:
// a slot frees when any request in progress ends, and an alert takes tens of
// milliseconds, so one second is enough for a well-behaved sender to find one.
const retryAfter = 1

// Edge bounds what a client can hold of the HTTP server (config.Edge); a zero
// bound is no bound. http.Server
// covers the header read (ReadHeaderTimeout), idle keep-alive connections
// (IdleTimeout) and the header size (MaxHeaderBytes); its ReadTimeout and
// WriteTimeout cover the whole request, so Edge sets the body and answer deadlines per
// request instead, through http.ResponseController, and bounds the requests in
// progress.
type Edge struct {
	limits config.Edge
	// slots holds one token per request in progress; nil when not bounded.
	slots chan struct{}
	// budget is the time a request's work may take.
	budget func(r *http.Request) time.Duration
	log    zerolog.Logger
}

// ServeEdge is apiguard serve's edge: at most MaxConcurrent requests at once, each
// HTTP function's work within WriteTimeout and an admin run (a timer, a queue
// message) within functionTimeout, as under the host.
func (a *App) ServeEdge() *Edge {
	l := a.Config.Edge
	e := NewEdge(l, a.Log, func(r *http.Request) time.Duration {
		if strings.HasPrefix(r.URL.Path, "/admin/functions/") {
			return functionTimeout
		}
		return l.WriteTimeout
	})
	if l.MaxConcurrent > 0 {
		e.slots = make(chan struct{}, l.MaxConcurrent)
	}
	return e
}

// HostEdge is the custom handler's edge under the Functions host. The host owns the
// client's connection and decides how many invocations run at once, so there is no
// concurrency bound here (a 503 would fail a queue invocation the host then
// redelivers); each invocation's work is still bounded: an HTTP function's by
// WriteTimeout, any other by functionTimeout.
func (a *App) HostEdge() *Edge {
	l := a.Config.Edge
	return NewEdge(l, a.Log, func(r *http.Request) time.Duration {
		if fn, ok := Functions[strings.ToLower(strings.Trim(r.URL.Path, "/"))]; ok && fn.HTTP == nil {
			return functionTimeout
		}
		return l.WriteTimeout
	})
}

// NewEdge bounds the header read, body read, idle connections and header size by l
// and each request's work by budget, with no bound on requests in progress (the
// Functions host's, and the server of invalid settings).
func NewEdge(l config.Edge, log zerolog.Logger, budget func(r *http.Request) time.Duration) *Edge {
	if budget == nil {
		budget = func(*http.Request) time.Duration { return l.WriteTimeout }
	}
	return &Edge{limits: l, budget: budget, log: log}
}

// Server is an http.Server for h within the edge's bounds. ReadTimeout and
// WriteTimeout stay unset: Handler sets both deadlines per request.
func (e *Edge) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           e.Handler(h),
		ReadHeaderTimeout: e.limits.HeaderTimeout,
		IdleTimeout:       e.limits.IdleTimeout,
		MaxHeaderBytes:    e.limits.MaxHeaderBytes,
	}
}

// InFlight is the number of requests in progress (always 0 when not bounded).
func (e *Edge) InFlight() int { return len(e.slots) }

// Handler applies the per-request bounds to h: the body must arrive within
// BodyTimeout of the end of the headers; the work runs under a context deadline of
// nine tenths of its budget, so that the answer to work cut short still has time to
// go out before the write deadline at the whole budget; a request beyond
// MaxConcurrent is answered 503 at once.
func (e *Edge) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rc := http.NewResponseController(w)
		budget := e.budget(r)
		// Without a body the server's background read of the connection is already
		// running, and a deadline on it would cancel the request's context; with
		// one, that read starts at the body's end and clears the deadline itself.
		if r.Body != nil && r.Body != http.NoBody && e.limits.BodyTimeout > 0 {
			_ = rc.SetReadDeadline(start.Add(e.limits.BodyTimeout))
		}
		if budget > 0 {
			_ = rc.SetWriteDeadline(start.Add(budget))
		}
		if e.slots != nil {
			select {
			case e.slots <- struct{}{}:
				defer func() { <-e.slots }()
			default:
				e.log.Warn().Str("path", r.URL.Path).Int("max_concurrent", e.limits.MaxConcurrent).
					Msg("too many requests in progress: answered 503")
				busy(w, e.limits.MaxConcurrent)
				return
			}
		}
		if budget > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), budget*9/10)
			defer cancel()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// busy answers a request over the concurrency bound. The connection is closed: a
// client that opens many is shed rather than kept.
func busy(w http.ResponseWriter, max int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, `{"type":"urn:apiguard:problem:unavailable","title":"Temporarily unavailable","status":503,`+
		`"detail":"%d requests are in progress, the most apiguard handles at once (APIGUARD_SERVE_MAX_CONCURRENT): retry after %d s"}`, max, retryAfter)
}

// bodyError answers a request whose body could not be read: 408 when the client did
// not send it within APIGUARD_SERVE_BODY_TIMEOUT (the connection is closed with it),
// else 400. The read error itself names connection addresses: it goes to the log only.
func bodyError(w http.ResponseWriter, log zerolog.Logger, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		log.Warn().Err(err).Msg("request body not received in time: answered 408")
		w.Header().Set("Connection", "close")
		http.Error(w, "request body not received within APIGUARD_SERVE_BODY_TIMEOUT", http.StatusRequestTimeout)
		return
	}
	log.Warn().Err(err).Msg("request body unreadable: answered 400")
	http.Error(w, "request body unreadable", http.StatusBadRequest)
}
