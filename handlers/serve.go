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
	"time"

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
				summary, err := fn.Queue(a, r.Context(), log, []envelope.Message{{Body: body, MessageID: id}})
				a.Ops.Invoked(r.Context(), log, name, err)
				if err != nil {
					http.Error(w, summary+": "+err.Error(), http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusAccepted)
				fmt.Fprintln(w, summary)
			})
		case "timerTrigger":
			mux.HandleFunc("POST /admin/functions/"+name, func(w http.ResponseWriter, r *http.Request) {
				log := a.invocationLogger(name, newInvocationID())
				summary, err := fn.Timer(a, r.Context(), log, &envelope.Timer{})
				a.Ops.Invoked(r.Context(), log, name, err)
				if err != nil {
					http.Error(w, summary+": "+err.Error(), http.StatusInternalServerError)
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
		out := fn.HTTP(a, r.Context(), log, req)
		a.Ops.Invoked(r.Context(), log, name, httpFailure(out))
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
	log := a.invocationLogger(name, newInvocationID())
	summary, err := fn.Timer(a, ctx, log, &envelope.Timer{})
	a.Ops.Invoked(ctx, log, name, err)
	if err != nil {
		log.Error().Err(err).Msg("timer run failed")
	} else {
		log.Info().Msg(summary)
	}
	return summary, err
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
				log := a.invocationLogger(t.name, newInvocationID())
				info := &envelope.Timer{Last: last, Next: t.s.Next(next)}
				last = next
				summary, err := t.fn.Timer(a, ctx, log, info)
				a.Ops.Invoked(ctx, log, t.name, err)
				if err != nil && !errors.Is(err, context.Canceled) {
					log.Error().Err(err).Msg("timer run failed; next run on schedule")
					continue
				}
				log.Info().Msg(summary)
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
