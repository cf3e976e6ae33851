package flow

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/apiguard/apiguard/shared/config"
)

// Invocation bounds one invocation of kind b by its budget (config.Budget), so a
// dependency that hangs ends the invocation as a transient fault within the budget:
// every storage and ARM call under it inherits the deadline. The entry points (the
// function handlers, serve's reconcile worker, the control API) call it once per
// invocation; a nested call never extends an outer deadline.
func (a *App) Invocation(ctx context.Context, b config.Budget) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.Budget(b))
}

// detach is ctx for bookkeeping after the work: a caller that went away must not stop
// the record of what happened, but the record keeps the invocation's deadline, so a
// hung store cannot hold the invocation past its budget.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	out := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(out, d)
	}
	return out, func() {}
}

// CallOptions returns a copy of opts (nil: defaults) whose tries each end after
// timeout, unless opts sets its own TryTimeout: an ARM endpoint that accepts and never
// answers fails the try, which azcore retries while the invocation's context allows.
// Long-running writes poll in tries of their own, so the bound is per request, not
// per operation.
func CallOptions(opts *arm.ClientOptions, timeout time.Duration) *arm.ClientOptions {
	var out arm.ClientOptions
	if opts != nil {
		out = *opts
	}
	if out.Retry.TryTimeout == 0 {
		out.Retry.TryTimeout = timeout
	}
	return &out
}
