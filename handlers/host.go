package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/envelope"
	"github.com/apiguard/apiguard/shared/fault"
)

// invocationLogger scopes a logger to one invocation, as the host's own logs are.
func (a *App) invocationLogger(function, invocationID string) zerolog.Logger {
	return a.Log.With().Str("function", function).Str("invocation_id", invocationID).Logger()
}

// envelopeLimit bounds an envelope read: the body limit, inflated for JSON string
// escaping (worst case \u00XX for every byte), plus room for headers and metadata.
// An Event Hubs batch may be larger: see eventHubEnvelopeLimit.
func (a *App) envelopeLimit(fn Function) int64 {
	limit := 6*a.Config.MaxBodyBytes + 1<<20
	if fn.Events != nil {
		limit = max(limit, eventHubEnvelopeLimit)
	}
	return limit
}

// An Event Hubs batch holds up to host.json's maxEventBatchSize events of up to
// maxEventBytes (the service's limit on Standard and Premium; a diagnostic setting's
// events are no larger), each escaped twice by the host: a quote or backslash of a
// JSON body becomes four bytes. An envelope over the limit cannot be read and its
// events are lost, so the limit is what the settings allow, not what is typical
// (tens of KB per event). A test ties maxEventBatchSize to host.json.
const (
	maxEventBatchSize     = 16
	maxEventBytes         = 1 << 20
	eventHubEnvelopeLimit = maxEventBatchSize*maxEventBytes*4 + 1<<20
)

// HostHandler serves the Functions host (custom handler, envelope mode): GET / for
// readiness and POST /<function> for invocations.
func (a *App) HostHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "apiguard custom handler ready")
	})
	mux.HandleFunc("POST /{function}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("function")
		fn, ok := Functions[strings.ToLower(name)]
		if !ok {
			http.Error(w, "no function "+name, http.StatusNotFound)
			return
		}
		id := r.Header.Get("X-Azure-Functions-InvocationId")
		log := a.invocationLogger(name, id)
		req, err := envelope.ReadRequest(r.Body, a.envelopeLimit(fn))
		if err != nil {
			a.answerBadEnvelope(w, log, fn, err)
			return
		}
		resp := a.invoke(r.Context(), log, name, fn, req)
		if resp == nil {
			http.Error(w, "invocation failed; the host will retry", http.StatusInternalServerError)
			return
		}
		if err := resp.Write(w); err != nil {
			log.Error().Err(err).Msg("writing the response to the host")
		}
	})
	return mux
}

// invoke runs one function over a decoded envelope. It returns nil when the invocation
// must fail (a transient fault), so the host retries.
func (a *App) invoke(ctx context.Context, log zerolog.Logger, name string, fn Function, req *envelope.Request) *envelope.Response {
	ctx, record, cancel := a.invocation(ctx, fn)
	defer cancel()
	resp := &envelope.Response{}
	var failure error
	defer func() { a.Ops.Invoked(record, log, name, failure) }()
	switch {
	case fn.HTTP != nil:
		hr, err := req.HTTP(fn.Binding)
		if err != nil {
			resp.SetHTTP("res", failed(log, "HTTP trigger data unreadable", err))
			return resp
		}
		out := fn.HTTP(a, ctx, log, hr)
		failure = httpFailure(out)
		resp.SetHTTP("res", out)
		resp.Log("%s %s -> %d", hr.Method, hr.URL, out.StatusCode)
	case fn.Timer != nil:
		t, err := req.Timer(fn.Binding)
		if err != nil {
			// A timer payload we cannot read will not read better on retry: log and succeed.
			log.Error().Err(err).Msg("timer data unreadable; running anyway")
			t = nil
		}
		summary, err := fn.Timer(a, ctx, log, t)
		failure = err
		if err != nil {
			log.Error().Err(err).Str("summary", summary).Msg("timer run failed")
			if fault.Of(err) == fault.Retry {
				return nil
			}
		}
		resp.Log("%s", summary)
	case fn.Queue != nil:
		msgs, err := req.ServiceBus(fn.Binding)
		if err != nil {
			// An unreadable batch reads no better on redelivery: record why and succeed.
			log.Error().Err(err).Msg("Service Bus batch unreadable: set aside")
			resp.Log("batch set aside: %v", err)
			return resp
		}
		summary, err := fn.Queue(a, ctx, log, msgs)
		failure = err
		if err != nil {
			log.Error().Err(err).Str("summary", summary).Msg("batch failed; the host will redeliver it")
			return nil
		}
		resp.Log("%s", summary)
	case fn.Events != nil:
		b, err := req.EventHub(fn.Binding)
		if err != nil {
			// As for Service Bus: an unreadable batch reads no better when run again.
			log.Error().Err(err).Msg("Event Hubs batch unreadable: set aside")
			resp.Log("batch set aside: %v", err)
			return resp
		}
		summary, err := fn.Events(a, ctx, log, b)
		failure = err
		if err != nil {
			log.Error().Err(err).Str("summary", summary).Msg("event batch failed; the retry policy runs it again")
			return nil
		}
		resp.Log("%s", summary)
	}
	return resp
}

// httpFailure is an HTTP answer's failure for health: a 5xx is the service's fault;
// a 4xx is the caller's and the function worked; a route's own document (the control
// API marks it, e.g. health's 503 when unhealthy) is no failure either.
func httpFailure(out envelope.HTTPResponse) error {
	if out.StatusCode >= 500 && out.Headers["X-Apiguard-Outcome"] != "answer" {
		return fmt.Errorf("answered %d: %s", out.StatusCode, clipBody(out.Body))
	}
	return nil
}

func clipBody(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// answerBadEnvelope answers an envelope that could not be read. For an HTTP function
// the caller gets the 4xx through the res binding; anything else fails the invocation
// only if retrying could help.
func (a *App) answerBadEnvelope(w http.ResponseWriter, log zerolog.Logger, fn Function, err error) {
	if fn.HTTP != nil {
		resp := &envelope.Response{}
		resp.SetHTTP("res", failed(log, "envelope rejected", err))
		_ = resp.Write(w)
		return
	}
	log.Warn().Err(err).Msg("envelope rejected")
	if fault.Of(err) == fault.Retry {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_ = (&envelope.Response{Logs: []string{"envelope rejected: " + err.Error()}}).Write(w)
}

// newInvocationID makes an id for invocations that do not come from the host.
func newInvocationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
