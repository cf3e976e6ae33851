package config

import (
	"strconv"
	"time"
)

// Edge bounds what one HTTP client can hold of the server (apiguard serve, and the
// custom handler's own server under the Functions host): how long it may take to send
// its headers and its body, how long an answer may take, how long an idle keep-alive
// connection is kept, how large the headers may be and how many requests run at once.
type Edge struct {
	// HeaderTimeout bounds reading the request line and headers.
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading the body, counted from the end of the headers: a
	// body trickled a byte at a time is cut off when it runs out.
	BodyTimeout time.Duration
	// WriteTimeout bounds the handler's work (its context's deadline) and the
	// writing of the answer, counted from the end of the headers.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (431 above).
	MaxHeaderBytes int
	// MaxConcurrent bounds the requests being handled at once; the excess is
	// answered 503 with Retry-After at once, never queued.
	MaxConcurrent int
}

// loadEdge reads the APIGUARD_SERVE_* settings. Durations are from 100ms (tests use
// short ones; anything shorter cuts off a healthy client) to 1h (the functionTimeout
// of host.json, beyond which nothing is waited for anyway).
func loadEdge(get func(string) string, bad func(name, format string, args ...any)) Edge {
	var e Edge
	duration := func(name string, into *time.Duration) {
		d, err := ParseDuration(get(name))
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			bad(name, "%q is not a duration from 100ms to 1h", get(name))
			return
		}
		*into = d
	}
	count := func(name string, lo, hi int, into *int) {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < lo || n > hi {
			bad(name, "%q is not a whole number from %d to %d", get(name), lo, hi)
			return
		}
		*into = n
	}
	duration("APIGUARD_SERVE_HEADER_TIMEOUT", &e.HeaderTimeout)
	duration("APIGUARD_SERVE_BODY_TIMEOUT", &e.BodyTimeout)
	duration("APIGUARD_SERVE_WRITE_TIMEOUT", &e.WriteTimeout)
	duration("APIGUARD_SERVE_IDLE_TIMEOUT", &e.IdleTimeout)
	count("APIGUARD_SERVE_MAX_HEADER_BYTES", 4096, 1<<20, &e.MaxHeaderBytes)
	count("APIGUARD_SERVE_MAX_CONCURRENT", 1, 10000, &e.MaxConcurrent)
	return e
}
