// Package control is apiguard's control API: the HTTP routes that operators, the
// command-line client and Logic Apps call to see and steer it (blocks, incidents,
// decisions and approvals, undo, the allow-list, the audit, health), their input
// validation and RFC 9457 problem details, the idempotency of every POST and DELETE,
// and the Swagger 2.0 document generated from the same route table that serves them,
// so the two cannot drift.
//
// The routes call the application layer (shared/flow) and nothing else. The
// Functions host reaches them through the `api` function, `apiguard serve` under
// /api/v1/; both hand the request to API.ServeHTTP.
package control

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/flow"
)

// API serves the control routes.
type API struct {
	app     *flow.App
	log     zerolog.Logger
	now     func() time.Time
	keys    Idempotency
	maxBody int64
	mux     *http.ServeMux
	routes  []route
}

// Options configure an API.
type Options struct {
	Log zerolog.Logger
	Now func() time.Time
	// Keys keeps the answers of POST and DELETE requests by Idempotency-Key; nil
	// keeps none (a retried request then acts again).
	Keys Idempotency
	// MaxBody bounds a request body (APIGUARD_MAX_BODY_BYTES).
	MaxBody int64
}

// New builds the API over the application layer.
func New(app *flow.App, opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	a := &API{app: app, log: opts.Log, now: opts.Now, keys: opts.Keys, maxBody: opts.MaxBody, mux: http.NewServeMux()}
	a.routes = a.table()
	for _, r := range a.routes {
		a.mux.HandleFunc(r.Method+" "+Prefix+r.Path, a.serve(r))
	}
	a.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, req *http.Request) {
		a.problem(w, req, &problem{Type: "not-found", Status: http.StatusNotFound, Detail: "no route " + req.Method + " " + req.URL.Path})
	})
	return a
}

// OutcomeHeader marks a route's own answer, so a 503 health document is not taken
// for the API failing.
const OutcomeHeader = "X-Apiguard-Outcome"

// Prefix is where the routes sit below the host's /api: /api/v1/blocks.
const Prefix = "/api/v1"

// ServeHTTP serves one request whose path starts with Prefix.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

// route is one operation: how it is served and how it is documented.
type route struct {
	Method string
	Path   string // below Prefix, with {name} path parameters
	// ID is the operationId (PascalCase, as Logic Apps connectors want).
	ID, Summary, Description string
	Tag                      string
	Params                   []param
	// Body is a prototype of the request body (nil: none).
	Body any
	// Answer is a prototype of the success answer; Status its status (default 200).
	// An answer with an HTTPStatus() int method chooses another status, documented
	// in Alt with the same schema.
	Answer any
	Status int
	Alt    map[int]string
	// Page marks a list answered as {"value": [...], "nextLink": ...}.
	Page bool
	// Produces is the answer's media type when not JSON; Header adds answer headers.
	Produces string
	Header   map[string]string
	// Formats are further media types the answer comes in (by Accept or ?format=).
	Formats []string
	Call    func(c *call) (any, error)
}

// param is a path or query parameter.
type param struct {
	Name, In, Type, Format, Description string
	Enum                                []string
	Required                            bool
	// Visibility is x-ms-visibility: important, advanced.
	Visibility string
}

// call is one request being served.
type call struct {
	id    string // the request id: X-Request-Id, and the error id of a 5xx
	ctx   context.Context
	log   zerolog.Logger
	req   *http.Request
	body  []byte
	actor string
	api   *API
}

func (c *call) path(name string) string { return c.req.PathValue(name) }

func (c *call) query(name string) string { return c.req.URL.Query().Get(name) }

// decode reads the JSON body into v, strictly: unknown fields, trailing data and a
// missing body are refused, naming what is wrong.
func (c *call) decode(v any) error {
	body := bytes.TrimPrefix(c.body, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(body)) == 0 {
		return &problem{Type: "invalid-body", Status: http.StatusBadRequest, Detail: "the request needs a JSON body"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &problem{Type: "invalid-body", Status: http.StatusBadRequest, Detail: "the body is not the JSON this route takes: " + err.Error()}
	}
	if dec.More() {
		return &problem{Type: "invalid-body", Status: http.StatusBadRequest, Detail: "the body holds more than one JSON value"}
	}
	return nil
}

// maxActor bounds the X-Apiguard-Actor header, which is stored with every change.
const maxActor = 64

// serve wraps a route: body limit and media type, actor, idempotency, the call, and
// the answer or problem.
func (a *API) serve(r route) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := requestID()
		log := a.log.With().Str("request_id", id).Str("operation", r.ID).Logger()
		w.Header().Set("X-Request-Id", id)
		body, err := io.ReadAll(io.LimitReader(req.Body, a.maxBody+1))
		if err != nil {
			a.problem(w, req, &problem{Type: "invalid-body", Status: http.StatusBadRequest, Detail: "reading the body: " + err.Error()})
			return
		}
		if int64(len(body)) > a.maxBody {
			a.problem(w, req, &problem{Type: "too-large", Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("the body exceeds %d bytes (APIGUARD_MAX_BODY_BYTES)", a.maxBody)})
			return
		}
		if r.Body != nil && len(body) > 0 {
			if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); req.Header.Get("Content-Type") != "" && (err != nil || mt != "application/json") {
				a.problem(w, req, &problem{Type: "unsupported-media-type", Status: http.StatusUnsupportedMediaType,
					Detail: "send the body as application/json"})
				return
			}
		}
		actor, perr := actorOf(req)
		if perr != nil {
			a.problem(w, req, perr)
			return
		}
		c := &call{id: id, ctx: req.Context(), log: log, req: req, body: body, actor: actor, api: a}
		if req.Method == http.MethodPost || req.Method == http.MethodDelete {
			a.idempotent(w, c, r)
			return
		}
		a.answer(w, c, r)
	}
}

// answer runs the route and writes its answer or problem.
func (a *API) answer(w http.ResponseWriter, c *call, r route) (status int, contentType string, body []byte) {
	v, err := r.Call(c)
	if err != nil {
		p := a.problemOf(c, err)
		return a.problem(w, c.req, p)
	}
	status = r.Status
	if status == 0 {
		status = http.StatusOK
	}
	if s, ok := v.(interface{ HTTPStatus() int }); ok {
		status = s.HTTPStatus()
	}
	// The route's own document, whatever its status (health's 503): not a failure of
	// the API, which problems are.
	w.Header().Set(OutcomeHeader, "answer")
	for k, hv := range r.Header {
		w.Header().Set(k, hv)
	}
	if d, ok := v.(document); ok {
		w.Header().Set("Content-Type", d.contentType)
		w.Header().Set(OutcomeHeader, "answer")
		w.WriteHeader(status)
		_, _ = w.Write(d.body)
		return status, d.contentType, d.body
	}
	if r.Produces != "" {
		s, _ := v.(string)
		w.Header().Set("Content-Type", r.Produces)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, s)
		return status, r.Produces, []byte(s)
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, "", nil
	}
	body, err = json.Marshal(v)
	if err != nil {
		c.log.Error().Err(err).Str("error_id", c.id).Msg("answer not encodable")
		return a.problem(w, c.req, &problem{Type: "internal", Status: http.StatusInternalServerError, Detail: "the answer could not be encoded", ErrorID: c.id})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status, "application/json", body
}

// actorOf is who asks: the X-Apiguard-Actor header (a Logic App sets its name, the
// CLI the user's), else "api". It is recorded with every change.
func actorOf(req *http.Request) (string, *problem) {
	actor := strings.TrimSpace(req.Header.Get("X-Apiguard-Actor"))
	if actor == "" {
		return "api", nil
	}
	if len(actor) > maxActor || strings.ContainsFunc(actor, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &problem{Type: "invalid-parameter", Status: http.StatusBadRequest, Field: "X-Apiguard-Actor",
			Detail: fmt.Sprintf("X-Apiguard-Actor: at most %d printable characters", maxActor)}
	}
	return actor, nil
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// problemOf turns an operation's error into problem details. A rejection says what
// is wrong; anything else is the service's fault and says no more than that, so no
// storage address or SDK dump reaches the caller (the log has it, under the
// request id).
func (a *API) problemOf(c *call, err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	if fault.Of(err) == fault.Reject {
		status := fault.StatusOf(err)
		out := &problem{Status: status, Detail: err.Error(), Field: fault.FieldOf(err)}
		switch {
		case status == http.StatusNotFound:
			out.Type = "not-found"
		case status == http.StatusConflict:
			out.Type = "conflict"
		case status == http.StatusUnprocessableEntity:
			out.Type = "refused"
		case out.Field != "":
			out.Type = "invalid-parameter"
		default:
			out.Type = "invalid-request"
		}
		c.log.Info().Err(err).Int("status", status).Msg("request refused")
		return out
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		c.log.Warn().Err(err).Str("error_id", c.id).Msg("request ended before its answer")
		return &problem{Type: "unavailable", Status: http.StatusServiceUnavailable, Detail: "the request timed out: retry it", RetryAfter: 5, ErrorID: c.id}
	}
	c.log.Error().Err(err).Str("error_id", c.id).Msg("request failed")
	return &problem{Type: "unavailable", Status: http.StatusServiceUnavailable,
		Detail: "apiguard could not complete the request (a dependency is unavailable): retry it", RetryAfter: 5, ErrorID: c.id}
}

// App is the application as the function handlers call it: the flows, and the
// control API over them.
type App struct {
	*flow.App
	api *API
}

// NewApp serves the control API over app.
func NewApp(app *flow.App, opts Options) App { return App{App: app, api: New(app, opts)} }

// API is the control API.
func (a App) API() http.Handler { return a.api }
