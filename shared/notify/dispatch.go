package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Errors OnFailure receives for events that were never attempted to the end.
var (
	// ErrQueueFull: the target's buffer was full when Notify was called; the event
	// was dropped for that target.
	ErrQueueFull = errors.New("notification buffer full: event dropped")
	// ErrClosed: the dispatcher was closed before the event could be delivered.
	ErrClosed = errors.New("notification dispatcher closed")
)

// Options configure a Dispatcher. The zero value of each field takes its default.
type Options struct {
	// Source is the CloudEvents source, a URI reference naming this apiguard
	// ("/apiguard/<host>"). Default "/apiguard".
	Source string
	// Log receives a line per final failure and per retry, scoped with the target.
	Log zerolog.Logger
	// Timeout bounds one attempt, from connecting to reading the answer. Default 5s.
	Timeout time.Duration
	// Attempts bounds the tries per event and target. Default 4.
	Attempts int
	// Backoff is the wait after the first failed attempt; it doubles with every
	// further one, with jitter (a wait lies between half and all of its ceiling), up to
	// MaxBackoff. Default 500ms.
	Backoff time.Duration
	// MaxBackoff caps one wait, a Retry-After included. Default 30s.
	MaxBackoff time.Duration
	// Queue bounds the events waiting per target: Notify drops (and reports) an event
	// for a target whose buffer is full. Default 1000.
	Queue int
	// OnFailure is told, once per event and target, that the event was not delivered:
	// every attempt failed, the answer was final (a 4xx other than 408 and 429), the
	// buffer was full, the event was invalid, or the dispatcher closed first. It runs
	// on a worker, or on the caller of Notify for drops and invalid events: keep it
	// quick, and safe for concurrent use.
	OnFailure func(target string, ev Event, err error)
	// Client sends the requests. The default has connection and header timeouts and
	// does not follow redirects (a redirect would carry the secret header to another
	// address; it is reported as a final failure).
	Client *http.Client
	// Sleep waits between attempts and returns early with ctx's error when ctx ends.
	// Tests replace it; the default uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *Options) setDefaults() {
	if o.Source == "" {
		o.Source = "/apiguard"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	if o.Queue <= 0 {
		o.Queue = 1000
	}
	if o.Client == nil {
		o.Client = defaultClient(o.Timeout)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
}

func defaultClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Dispatcher delivers events to targets in the background: one worker and one
// bounded, ordered lane per target, so that a slow or unreachable target delays only
// its own events. It is safe for concurrent use.
type Dispatcher struct {
	opts    Options
	log     zerolog.Logger
	lanes   []*lane
	ctx     context.Context // ends when Close has flushed (or given up): aborts attempts and waits
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	progress chan struct{} // closed and replaced whenever a lane finishes an event
}

// lane is one target's queue; queued and done count its events (under Dispatcher.mu).
type lane struct {
	target       Target
	log          zerolog.Logger
	jobs         chan prepared
	queued, done uint64
}

// New starts a dispatcher for targets, one worker each; Close stops it. Targets are
// used as given: ParseTargets is what checks them.
func New(targets []Target, opts Options) *Dispatcher {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{opts: opts, log: opts.Log, ctx: ctx, cancel: cancel, progress: make(chan struct{})}
	if _, err := url.Parse(opts.Source); err != nil {
		d.log.Error().Err(err).Str("source", opts.Source).Msg("notification source is not a URI reference: every CloudEvent will fail")
	}
	for _, t := range targets {
		l := &lane{
			target: t,
			log:    opts.Log.With().Str("target", t.Name).Str("kind", string(t.Kind)).Logger(),
			jobs:   make(chan prepared, opts.Queue),
		}
		d.lanes = append(d.lanes, l)
		d.workers.Add(1)
		go d.run(l)
	}
	return d
}

// Notify queues events for every target whose type filter takes them and returns at
// once: it never waits for a target and never fails. An event that cannot be queued
// (invalid, buffer full, dispatcher closed) goes to OnFailure.
func (d *Dispatcher) Notify(events ...Event) {
	for _, ev := range events {
		p, err := prepare(ev)
		if err != nil {
			d.log.Error().Err(err).Str("event_id", ev.ID).Str("event_type", ev.Type).Msg("notification not sent")
		} else if len(p.dropped) > 0 {
			d.log.Warn().Str("event_id", ev.ID).Strs("links", p.dropped).Msg("links that are not absolute http(s) URLs left out")
		}
		for _, l := range d.lanes {
			if !l.target.Wants(ev.Type) {
				continue
			}
			if err != nil {
				d.report(l.target.Name, ev, err) // logged once above
				continue
			}
			if err := d.enqueue(l, p); err != nil {
				d.fail(l, ev, err)
			}
		}
	}
}

func (d *Dispatcher) enqueue(l *lane, p prepared) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	select {
	case l.jobs <- p:
		l.queued++
		return nil
	default:
		return fmt.Errorf("%w (%d events already wait for %s)", ErrQueueFull, cap(l.jobs), l.target.Name)
	}
}

// Flush waits until every event queued before it was called has been delivered or
// has finally failed, or until ctx ends.
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	want := make([]uint64, len(d.lanes))
	for i, l := range d.lanes {
		want[i] = l.queued
	}
	for {
		var left uint64
		for i, l := range d.lanes {
			if l.done < want[i] {
				left += want[i] - l.done
			}
		}
		if left == 0 {
			d.mu.Unlock()
			return nil
		}
		progress := d.progress
		d.mu.Unlock()
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("notify: %d events not yet delivered: %w", left, ctx.Err())
		}
		d.mu.Lock()
	}
}

// Close refuses new events, flushes until ctx ends, then stops the workers: an
// attempt in flight is aborted, and what is still queued goes to OnFailure with
// ErrClosed. It returns Flush's error. Closing again does nothing more.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	err := d.Flush(ctx)
	d.cancel()
	d.workers.Wait()
	return err
}

// run is a lane's worker: it delivers the lane's events in order until Close.
func (d *Dispatcher) run(l *lane) {
	defer d.workers.Done()
	for {
		select {
		case p := <-l.jobs:
			d.deliver(l, p)
			d.finished(l)
		case <-d.ctx.Done():
			for {
				select {
				case p := <-l.jobs:
					d.fail(l, p.Event, ErrClosed)
					d.finished(l)
				default:
					return
				}
			}
		}
	}
}

func (d *Dispatcher) finished(l *lane) {
	d.mu.Lock()
	l.done++
	close(d.progress)
	d.progress = make(chan struct{})
	d.mu.Unlock()
}

// fail logs a final failure and reports it.
func (d *Dispatcher) fail(l *lane, ev Event, err error) {
	l.log.Error().Err(err).Str("event_id", ev.ID).Str("event_type", ev.Type).Msg("notification not delivered")
	d.report(l.target.Name, ev, err)
}

func (d *Dispatcher) report(target string, ev Event, err error) {
	if d.opts.OnFailure != nil {
		d.opts.OnFailure(target, ev, err)
	}
}
