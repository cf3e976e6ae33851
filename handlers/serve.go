package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/schedule"
)

// ServeHandler is the standalone server: each HTTP function at /api/<route> with the
// methods of its function.json, and POST /admin/functions/<name> to run a timer now
// (as the Functions host's admin API does) or a queue function on the posted body.
func (a *App) ServeHandler(defs map[string]Def) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "apiguard serve: functions under /api/")
	})
	for _, name := range sortedNames(defs) {
		d := defs[name]
		fn, ok := Functions[name]
		if !ok {
			return nil, fmt.Errorf("function %s has a function.json but no handler", name)
		}
		switch d.Trigger {
		case "httpTrigger":
			mux.HandleFunc("/api/"+d.Route, a.serveHTTP(name, d, fn))
		case "serviceBusTrigger":
			// No Service Bus here: POST a message body to run the function on it, as
			// one message (the id from X-Message-Id, else the body's hash).
			mux.HandleFunc("POST /admin/functions/"+name, func(w http.ResponseWriter, r *http.Request) {
				log := a.invocationLogger(name, newInvocationID())
				body, err := io.ReadAll(io.LimitReader(r.Body, a.Config.MaxBodyBytes+1))
				if err != nil {
					http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
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
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		// An over-long body is passed on truncated to one byte past the limit; the
		// handler answers 413 exactly as it does under the Functions host.
		query := map[string]string{}
		for k, v := range r.URL.Query() {
			query[k] = v[0]
		}
		req := &envelope.HTTPRequest{
			URL: r.URL.String(), Method: r.Method, Query: query, Headers: r.Header,
			Params: map[string]string{}, Body: body, AuthLevel: "Function",
		}
		out := fn.HTTP(a, r.Context(), log, req)
		for k, v := range out.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(out.StatusCode)
		_, _ = io.WriteString(w, out.Body)
	}
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
