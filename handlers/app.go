package handlers

import (
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/respond"
)

// App holds what the handlers share. Clients are created on first use, never at
// start-up: the Functions host restarts a handler that is not listening within 30 s.
type App struct {
	Config *config.Config
	Log    zerolog.Logger
	Now    func() time.Time

	once    sync.Once
	svc     *respond.Service
	initErr error
}

// New returns an app over a validated configuration.
func New(cfg *config.Config, log zerolog.Logger, now func() time.Time) *App {
	if now == nil {
		now = time.Now
	}
	return &App{Config: cfg, Log: log, Now: now}
}

// Responder returns the alert and expiry service, creating the store on first use.
func (a *App) Responder() (*respond.Service, error) {
	a.once.Do(func() {
		if err := a.Config.RequireTables(); err != nil {
			a.initErr = err
			return
		}
		opts := record.Options{ConnectionString: a.Config.TablesConnection, TablePrefix: a.Config.TablePrefix}
		if a.Config.TablesURL != "" {
			cred, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				a.initErr = fmt.Errorf("managed identity for Table Storage: %w", err)
				return
			}
			opts.ServiceURL, opts.Credential = a.Config.TablesURL, cred
		}
		store, err := record.New(opts)
		if err != nil {
			a.initErr = fmt.Errorf("table store: %w", err)
			return
		}
		engine := decide.New(a.Config, respond.History(store), a.Now)
		a.svc = respond.New(store, engine, a.Now)
	})
	return a.svc, a.initErr
}
