package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/schedule"
)

// ServeHandler is the standalone server: each HTTP function at /api/<route> with the
// methods of its function.json, and POST /admin/functions/<name> to run a timer now
// (as the Functions host's admin API does) or a queue function on the posted body.
func (a *App) ServeHandler(defs map[string]Def) (http.Handler, error) {
	mux := http.NewServeMux()
	// The operator console is the front page.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/v1/console", http.StatusFound)
	})
	for _, name := range sortedNames(defs) {
		d := defs[name]
		fn, ok := Functions[name]
		if !ok {
			return nil, fmt.Errorf("function %s has a function.json but no handler", name)
		}
		switch d.Trigger {
		case "httpTrigger":
			mux.Handle("/api/"+muxPattern(d.Route), a.requireKey(a.serveHTTP(name, d, fn), d.Route))
		case "serviceBusTrigger":
			// No Service Bus here: POST a message body to run the function on it, as
			// one message (the id from X-Message-Id, else the body's hash).
			mux.HandleFunc("POST /admin/functions/"+name, func(w http.ResponseWriter, r *http.Request) {
				log := a.invocationLogger(name, newInvocationID())
				body, err := io.ReadAll(io.LimitReader(r.Body, a.Config.MaxBodyBytes+1))
				if err != nil {
					bodyError(w, log, err)
					return
				}
				if int64(len(body)) > a.Config.MaxBodyBytes {
					http.Error(w, "body exceeds APIGUARD_MAX_BODY_BYTES", http.StatusRequestEntityTooLarge)
					return
				}
				id := r.Header.Get("X-Message-Id")
				if id == "" {
					id = bodyID(body)
				}
				ctx, record, cancel := a.invocation(r.Context(), fn)
				defer cancel()
				summary, err := fn.Queue(a, ctx, log, []envelope.Message{{Body: body, MessageID: id}})
				a.Ops.Invoked(record, log, name, err)
				if err != nil {
					writeFailure(w, log, summary, err)
					return
				}
				w.WriteHeader(http.StatusAccepted)
				fmt.Fprintln(w, summary)
			})
		case "timerTrigger":
			mux.HandleFunc("POST /admin/functions/"+name, func(w http.ResponseWriter, r *http.Request) {
				summary, err := a.runTimer(r.Context(), name, fn, &envelope.Timer{})
				if errors.Is(err, errTimerRunning) {
					http.Error(w, err.Error(), http.StatusConflict)
					return
				}
				if err != nil {
					writeFailure(w, a.Log.With().Str("function", name).Logger(), summary, err)
					return
				}
				w.WriteHeader(http.StatusAccepted)
				fmt.Fprintln(w, summary)
			})
		}
	}
	return mux, nil
}

func (a *App) serveHTTP(name string, d Def, fn Function) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(d.Methods) > 0 && !slices.Contains(d.Methods, r.Method) {
			w.Header().Set("Allow", fmt.Sprint(d.Methods))
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		log := a.invocationLogger(name, newInvocationID())
		body, err := io.ReadAll(io.LimitReader(r.Body, a.Config.MaxBodyBytes+1))
		if err != nil {
			bodyError(w, log, err)
			return
		}
		// An over-long body is passed on truncated to one byte past the limit; the
		// handler answers 413 exactly as it does under the Functions host.
		query := map[string]string{}
		for k, v := range r.URL.Query() {
			query[k] = v[0]
		}
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		if r.TLS != nil {
			u.Scheme = "https"
		}
		req := &envelope.HTTPRequest{
			URL: u.String(), Method: r.Method, Query: query, Headers: r.Header,
			Params: map[string]string{}, Body: body, AuthLevel: "Function",
		}
		ctx, record, cancel := a.invocation(r.Context(), fn)
		defer cancel()
		out := fn.HTTP(a, ctx, log, req)
		a.Ops.Invoked(record, log, name, httpFailure(out))
		for k, v := range out.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(out.StatusCode)
		_, _ = io.WriteString(w, out.Body)
	}
}

// RunNow runs a timer function once, now, as its schedule would.
func (a *App) RunNow(ctx context.Context, name string) (string, error) {
	fn, ok := Functions[name]
	if !ok || fn.Timer == nil {
		return "", fmt.Errorf("no timer function %s", name)
	}
	return a.runTimer(ctx, name, fn, &envelope.Timer{})
}

// errTimerRunning refuses a run of a timer function while the previous one is still
// running: runs never pile up behind a slow one.
var errTimerRunning = errors.New("the previous run is still running: this one is skipped")

// runTimer runs a timer function once within its budget, unless a run of it is still
// going (the schedule, RunNow and the admin route share the guard), and logs how it
// ended. The Functions host keeps timers singleton itself; this is serve's guard.
func (a *App) runTimer(ctx context.Context, name string, fn Function, info *envelope.Timer) (string, error) {
	log := a.invocationLogger(name, newInvocationID())
	flag, _ := a.running.LoadOrStore(name, new(atomic.Bool))
	if !flag.(*atomic.Bool).CompareAndSwap(false, true) {
		log.Warn().Msg("timer run skipped: the previous run is still running")
		return "", errTimerRunning
	}
	defer flag.(*atomic.Bool).Store(false)
	ctx, record, cancel := a.invocation(ctx, fn)
	defer cancel()
	summary, err := fn.Timer(a, ctx, log, info)
	a.Ops.Invoked(record, log, name, err)
	switch {
	case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
		// serve is stopping.
	case err != nil:
		log.Error().Err(err).Str("summary", summary).Msg("timer run failed; next run on schedule")
	default:
		log.Info().Msg(summary)
	}
	return summary, err
}

// writeFailure answers a failed admin run: a rejection as it is, anything else as
// failed does (generic, with the error id that the log line carries).
func writeFailure(w http.ResponseWriter, log zerolog.Logger, summary string, err error) {
	out := failed(log, "admin run failed: "+summary, err)
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(out.StatusCode)
	_, _ = io.WriteString(w, out.Body)
}

// muxPattern turns a Functions route template into a ServeMux pattern: the
// catch-all {*name} becomes {name...}.
func muxPattern(route string) string {
	if i := strings.Index(route, "{*"); i >= 0 && strings.HasSuffix(route, "}") {
		return route[:i] + "{" + route[i+2:len(route)-1] + "...}"
	}
	return route
}

// requireKey guards the control API in serve with APIGUARD_API_KEY when one is set
// (serve refuses a non-loopback address without one): a bearer token, or the key in
// x-functions-key or ?code= as the Functions host takes it, compared in constant time.
// The other functions are guarded only by listening on loopback, as before.
func (a *App) requireKey(h http.Handler, route string) http.Handler {
	if a.Config.APIKey == "" || !strings.HasPrefix(route, "v1/") {
		return h
	}
	want := []byte(a.Config.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("x-functions-key")
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = bearer
		}
		if got == "" {
			got = r.URL.Query().Get("code")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apiguard"`)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"type":"urn:apiguard:problem:unauthorized","title":"A valid API key is required","status":401,`+
				`"detail":"send APIGUARD_API_KEY as a bearer token (Authorization: Bearer <key>)"}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// RunTimers runs every timer function on its schedule until ctx ends.
func (a *App) RunTimers(ctx context.Context, defs map[string]Def) error {
	type timer struct {
		name string
		s    schedule.Schedule
		fn   Function
	}
	var timers []timer
	for _, name := range sortedNames(defs) {
		d := defs[name]
		if d.Trigger != "timerTrigger" {
			continue
		}
		s, err := schedule.Parse(d.Schedule)
		if err != nil {
			return fmt.Errorf("function %s: schedule %q: %w", name, d.Schedule, err)
		}
		timers = append(timers, timer{name, s, Functions[name]})
	}
	for _, t := range timers {
		go func() {
			last := a.Now()
			for {
				next := t.s.Next(a.Now())
				wait := time.NewTimer(time.Until(next))
				select {
				case <-ctx.Done():
					wait.Stop()
					return
				case <-wait.C:
				}
				info := &envelope.Timer{Last: last, Next: t.s.Next(next)}
				last = next
				// One run at a time, within the background budget; the next is
				// scheduled from when this one ends, so missed ticks are skipped.
				_, _ = a.runTimer(ctx, t.name, t.fn, info)
			}
		}()
	}
	return nil
}

func sortedNames(defs map[string]Def) []string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
