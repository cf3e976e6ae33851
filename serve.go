package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/handlers"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
)

// runServe is the standalone mode: the same handlers under /api/, timers in-process.
func runServe(args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:7071", "listen address (loopback by default: serve has no function keys)")
	settings := fl.String("settings", "", "local settings file whose Values fill in settings missing from the environment (default: local.settings.json, else local.settings.sample.json, when present)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	lookup, err := settingsLookup(*settings)
	if err != nil {
		return configError(stderr, err)
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return configError(stderr, err)
	}
	if err := checkExposure(*addr, cfg.APIKey); err != nil {
		return configError(stderr, err)
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, false, os.Stdout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := newServer(ctx, cfg, lookup, log, time.Second)
	if err != nil {
		return configError(stderr, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard: listen:", err)
		return 1
	}
	if err := srv.handlers.RunTimers(ctx, srv.defs); err != nil {
		return configError(stderr, err)
	}
	_ = srv.app.RequestRepair(ctx, "start-up") // bring every policy in line at once
	// The expire timer runs once now, as well as on its schedule: expiry, repair and
	// health are current from the start.
	go func() { _, _ = srv.handlers.RunNow(ctx, "expire") }()
	log.Info().Str("addr", ln.Addr().String()).Str("mode", string(cfg.Mode)).Msg("apiguard serve: POST alerts to /api/alerts, console at /")
	code := serveUntilSignal(ln, srv.handlers.ServeEdge().Server(srv.http), stderr)
	flush, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFlush()
	if err := srv.close(flush); err != nil {
		log.Warn().Err(err).Msg("notifications not all delivered before exit")
	}
	return code
}

// checkExposure refuses to serve the control API beyond loopback without a key: serve
// has no function keys, and the API can unblock anything.
func checkExposure(addr, key string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); (err == nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	if key == "" {
		return fmt.Errorf("--addr %s is not a loopback address: set APIGUARD_API_KEY (at least 16 characters), which /api/v1/ then requires as a bearer token", addr)
	}
	return nil
}

// server is serve's wiring: the application layer over Table Storage, the in-process
// queue standing in for the Service Bus sessions (one worker per policy, coalescing the
// requests that arrive within settle), and the handlers under /api/.
type server struct {
	app      *flow.App
	queue    *queue.Memory
	handlers *handlers.App
	defs     map[string]handlers.Def
	http     http.Handler
	// close delivers what notifications are queued, within its context.
	close func(ctx context.Context) error
}

func newServer(ctx context.Context, cfg *config.Config, lookup func(string) (string, bool), log zerolog.Logger, settle time.Duration) (*server, error) {
	defs, err := handlers.LoadDefs(functionsFS())
	if err != nil {
		return nil, err
	}
	s := &server{defs: defs}
	s.queue = queue.NewMemory(ctx, settle, func(ctx context.Context, target string, batch []queue.Message) error {
		_, err := s.app.Reconcile(ctx, log, target)
		return err
	}, func(target string, err error) {
		log.Error().Err(err).Str("target", target).Msg("reconcile failed; the next request or the periodic repair retries")
	})
	on, err := openOnline(cfg, lookup, log, s.queue, nil)
	if err != nil {
		return nil, err
	}
	s.app, s.close = on.App.App, on.close
	s.handlers = handlers.New(on.App, cfg, log, time.Now)
	if s.http, err = s.handlers.ServeHandler(defs); err != nil {
		return nil, err
	}
	return s, nil
}

// settingsLookup reads the environment first, then the Values of a local settings file
// (the Functions Core Tools format). With no path it takes local.settings.json, else
// local.settings.sample.json, from the working directory, so serve and plan run from a
// checkout agree with `make run`.
func settingsLookup(path string) (func(string) (string, bool), error) {
	values := map[string]string{}
	explicit := path != ""
	if !explicit {
		path = "local.settings.json"
		if _, err := os.Stat(path); err != nil {
			path = "local.settings.sample.json"
		}
	}
	raw, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err) && !explicit:
	case err != nil:
		return nil, fmt.Errorf("--settings %s: %w", path, err)
	default:
		var f struct {
			Values map[string]string `json:"Values"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("--settings %s: not a local.settings.json: %w", path, err)
		}
		values = f.Values
	}
	return func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := values[k]
		return v, ok
	}, nil
}
