package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/handlers"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
)

// runHost serves the Functions host on 127.0.0.1:port. It listens before anything
// else: the host restarts a handler that does not answer GET / within 30 s.
func runHost(port string, stderr io.Writer) int {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(stderr, "apiguard: listen:", err)
		return 1
	}
	on, cfg, log, err := hostApp()
	if err != nil {
		// Keep answering so the host shows the reason in its logs rather than a crash loop.
		log := newLogger("info", "json", true, os.Stdout)
		log.Error().Err(err).Msg("invalid settings: every invocation will fail until they are fixed")
		// The settings cannot be trusted, the edge's defaults can (a test loads them).
		var limits config.Edge
		if defaults, err := config.Load(func(string) (string, bool) { return "", false }); err == nil {
			limits = defaults.Edge
		}
		return serveUntilSignal(ln, handlers.NewEdge(limits, log, nil).Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == "/" {
				fmt.Fprintln(w, "apiguard: invalid settings")
				return
			}
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})), stderr)
	}
	a := handlers.New(on.App, cfg, log, time.Now)
	log.Info().Str("version", version).Str("port", port).Msg("apiguard custom handler listening")
	code := serveUntilSignal(ln, a.HostEdge().Server(a.HostHandler()), stderr)
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := on.close(flush); err != nil {
		log.Warn().Err(err).Msg("notifications not all delivered before exit")
	}
	return code
}

// hostApp builds the application layer from the environment, as the Functions host
// runs it: Table Storage, and Service Bus for the reconcile requests.
func hostApp() (online, *config.Config, zerolog.Logger, error) {
	cfg, err := config.FromEnv()
	if err == nil {
		err = cfg.RequireQueue()
	}
	if err != nil {
		return online{}, nil, zerolog.Logger{}, err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, true, os.Stdout)
	var q flow.Sender
	var dl flow.DeadLetters
	if cfg.ServiceBusConn != "" || cfg.ServiceBusSpace != "" {
		dl = queue.NewDeadLetterCounter([]string{cfg.ReconcileQueue, cfg.TrafficQueue}, cfg.ServiceBusConn, cfg.ServiceBusSpace)
	}
	if len(cfg.WAFTargets)+len(cfg.APIMTargets) > 0 {
		q = queue.NewServiceBus(cfg.ReconcileQueue, cfg.ServiceBusConn, cfg.ServiceBusSpace)
	}
	on, err := openOnline(cfg, os.LookupEnv, log, q, dl)
	return on, cfg, log, err
}

// serveUntilSignal serves srv (its bounds set by handlers.Edge) on ln until SIGINT or
// SIGTERM, then shuts it down gracefully.
func serveUntilSignal(ln net.Listener, srv *http.Server, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "apiguard:", err)
			return 1
		}
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	return 0
}
