package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/queue"
)

// Operations is the application layer as the functions call it, one operation per
// function (shared/flow.App implements it; the main package wires it in). HTTP
// operations answer with a document the handler encodes as JSON without looking
// inside, which keeps handlers free of every domain package; an answer with an
// HTTPStatus() int method chooses its success status. Queue and timer operations
// answer with a summary for the host's log.
type Operations interface {
	Alerts(ctx context.Context, log zerolog.Logger, body []byte, headers http.Header) (any, error)
	Ingest(ctx context.Context, log zerolog.Logger, batch queue.LogBatch) (any, error)
	Traffic(ctx context.Context, log zerolog.Logger, batches []queue.LogBatch) (string, error)
	Expire(ctx context.Context, log zerolog.Logger) (string, error)
	Remediate(ctx context.Context, log zerolog.Logger, reqs []queue.Message) (string, error)
	Triage(ctx context.Context, log zerolog.Logger) (string, error)
	// API is the control API, served below /api/v1.
	API() http.Handler
	// Invoked records how an invocation of a function ended, for health.
	Invoked(ctx context.Context, log zerolog.Logger, function string, failure error)
}

// App is what the handlers share: the operations, the limits they enforce on input,
// the base logger and the clock of the in-process timers.
type App struct {
	Ops    Operations
	Config *config.Config
	Log    zerolog.Logger
	Now    func() time.Time

	// running holds a *atomic.Bool per timer function that is set while it runs.
	running sync.Map
}

// New returns the handlers' app over the application layer.
func New(ops Operations, cfg *config.Config, log zerolog.Logger, now func() time.Time) *App {
	if now == nil {
		now = time.Now
	}
	return &App{Ops: ops, Config: cfg, Log: log, Now: now}
}
