package enforce

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/fault"
)

// retrier holds how one target retries its writes.
type retrier struct {
	// Sleep waits between attempts; tests replace it to run on an injected clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts bounds read-compute-write-verify rounds (default 8).
	MaxAttempts int
	// MaxWait caps a single Retry-After wait (default 2 min), so one invocation never
	// outlives the host's timeout.
	MaxWait time.Duration
}

// written is what converge did to one document.
type written struct {
	Wrote    bool
	Attempts int
	Before   string // ETag read before the write
	Written  string // ETag the write returned
	After    string // ETag read back (the current one when nothing was written)
}

// converge brings one document to what compute wants: read it with its ETag, compute
// the next version, write it with If-Match only when it changed, read back and check
// it with verify. A 412 or a failed verification starts over from a fresh read with
// jittered backoff; a 429 waits as long as the service says. Giving up is transient,
// so the host retries the invocation later.
func (r retrier) converge(ctx context.Context, log zerolog.Logger, name string, b Backend,
	compute func(ctx context.Context, cur Policy) (next []byte, changed bool, err error),
	verify func(live Policy) (bool, error),
) (written, error) {
	attempts := r.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	var out written
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		out.Attempts = attempt
		cur, err := b.Get(ctx)
		if err != nil {
			return out, fmt.Errorf("read %s: %w", name, err)
		}
		next, changed, err := compute(ctx, cur)
		if err != nil {
			return out, fmt.Errorf("compute %s: %w", name, err)
		}
		if !changed {
			out.After = cur.ETag
			return out, nil
		}
		etag, err := b.Put(ctx, next, cur.ETag)
		var throttled *ThrottledError
		switch {
		case errors.Is(err, ErrPrecondition):
			last = err
			log.Info().Str("document", name).Int("attempt", attempt).Msg("changed under us (412): re-reading")
			if err := r.sleep(ctx, backoff(attempt)); err != nil {
				return out, err
			}
			continue
		case errors.As(err, &throttled):
			last = err
			wait := min(throttled.RetryAfter, r.maxWait())
			log.Warn().Str("document", name).Dur("retry_after", wait).Msg("throttled (429): waiting as told")
			if err := r.sleep(ctx, wait); err != nil {
				return out, err
			}
			continue
		case err != nil:
			return out, fmt.Errorf("write %s: %w", name, err)
		}
		// Verify: a writer that ignores If-Match (the Network provider has been seen to
		// let the last writer win) or a service that drops the write shows up here.
		live, err := b.Get(ctx)
		if err != nil {
			return out, fmt.Errorf("verify %s: %w", name, err)
		}
		ok, err := verify(live)
		if err != nil {
			return out, fmt.Errorf("verify %s: %w", name, err)
		}
		if !ok {
			last = fmt.Errorf("verify %s: the live document differs from what was written", name)
			log.Warn().Str("document", name).Int("attempt", attempt).Msg("verification failed: rewriting")
			if err := r.sleep(ctx, backoff(attempt)); err != nil {
				return out, err
			}
			continue
		}
		out.Wrote, out.Before, out.Written, out.After = true, cur.ETag, etag, live.ETag
		return out, nil
	}
	return out, fault.Transient(fmt.Errorf("%s: gave up after %d attempts: %w", name, attempts, last))
}

func (r retrier) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r retrier) maxWait() time.Duration {
	if r.MaxWait > 0 {
		return r.MaxWait
	}
	return 2 * time.Minute
}

// backoff is bounded exponential with full jitter: concurrent writers spread out.
func backoff(attempt int) time.Duration {
	ceiling := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling))) + 10*time.Millisecond
}
