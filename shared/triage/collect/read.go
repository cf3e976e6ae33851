package collect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/apiguard/apiguard/shared/fault"
)

// meter is the transport every client of one run uses, in front of the caller's: it
// counts each request by the SDK method that sent it and bounds each response body.
type meter struct {
	inner   policy.Transporter
	maxBody int64

	mu     sync.Mutex
	calls  int
	byKind map[string]int
}

var _ policy.Transporter = (*meter)(nil)

func (m *meter) Do(req *http.Request) (*http.Response, error) {
	kind, _ := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	if kind == "" {
		kind = "other"
	}
	m.mu.Lock()
	m.calls++
	m.byKind[kind]++
	m.mu.Unlock()
	resp, err := m.inner.Do(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &boundedBody{rc: resp.Body, left: m.maxBody, max: m.maxBody}
	return resp, nil
}

// errTooLarge is a response body over Options.MaxBody. Retrying cannot help, so it says
// so to azcore's retry policy.
type errTooLarge struct{ max int64 }

func (e *errTooLarge) Error() string { return fmt.Sprintf("response body over %d bytes", e.max) }
func (e *errTooLarge) NonRetriable() {}

type boundedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &errTooLarge{b.max}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &errTooLarge{b.max}
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// defaultTransport is HTTPS to ARM when the caller gives no transport (azcore's own
// default is not exported): TLS 1.2 or later, proxies from the environment.
func defaultTransport() policy.Transporter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}
}

// clientOptions is the caller's options with the meter as transport, and without
// azcore's resource provider registration: on a 409 MissingSubscriptionRegistration it
// would register the provider (a write, which a reader must never make), and on the
// nested apiCollections path it fails with "invalid resource ID" instead of the answer.
func clientOptions(o *arm.ClientOptions, m *meter) *arm.ClientOptions {
	var out arm.ClientOptions
	if o != nil {
		out = *o
	}
	out.DisableRPRegistration = true
	m.inner = out.Transport
	if m.inner == nil {
		m.inner = defaultTransport()
	}
	out.Transport = m
	return &out
}

// failure is a failed read told in one short line (status and ARM code, never the
// service's message, which may name principals), with its disposition.
type failure struct {
	status    int
	code      string
	short     string
	transient bool
	fatal     bool // the run ends with err as it is (a refused snapshot, the caller's context)
	err       error
}

// readError is a failed read as the run reports it: one line, the cause underneath.
type readError struct {
	what, scope, short string
	err                error
}

func (e *readError) Error() string { return "collect: " + e.what + " of " + e.scope + ": " + e.short }
func (e *readError) Unwrap() error { return e.err }

// classify tells what a failed read means. parent is the run's context: a call that
// ran out of its own deadline is transient, a run that was cancelled is not a fault of
// ARM's at all.
func classify(parent context.Context, err error) failure {
	var re *azcore.ResponseError
	var big *errTooLarge
	switch {
	case parent.Err() != nil:
		return failure{short: parent.Err().Error(), fatal: true, err: parent.Err()}
	case errors.Is(err, ErrRefused):
		return failure{short: err.Error(), fatal: true, err: err}
	case errors.As(err, &big):
		return failure{short: big.Error(), err: err}
	case errors.Is(err, errTooManyPages):
		return failure{short: err.Error(), err: err}
	case errors.As(err, &re):
		f := failure{status: re.StatusCode, code: re.ErrorCode, err: err}
		f.short = fmt.Sprintf("HTTP %d", re.StatusCode)
		if re.ErrorCode != "" {
			f.short += " " + re.ErrorCode
		}
		f.transient = re.StatusCode == http.StatusRequestTimeout || re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500
		return f
	case errors.Is(err, context.DeadlineExceeded):
		return failure{short: "no answer within the call's deadline", transient: true, err: err}
	default:
		return failure{short: "network error", transient: true, err: err}
	}
}

// fail is the error that ends the run for f: the context's or a refusal as they are, a
// transient fault marked so the host retries.
func (f failure) fail(what, scope string) error {
	e := &readError{what: what, scope: scope, short: f.short, err: f.err}
	switch {
	case f.fatal && errors.Is(f.err, ErrRefused):
		return fault.Rejected(http.StatusBadRequest, e)
	case f.fatal:
		return f.err
	default:
		return fault.Transient(e)
	}
}

var errTooManyPages = errors.New("list longer than the page limit")
