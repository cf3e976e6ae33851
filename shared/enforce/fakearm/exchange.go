package fakearm

import (
	"context"
	"net/http"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
)

// conditions are a PUT's conditional headers, which the official handlers cannot see
// (some see If-Match, none If-None-Match).
type conditions struct {
	ifMatch     string
	hasIfMatch  bool
	ifNoneMatch string
}

func conditionsOf(req *http.Request) conditions {
	c := conditions{ifNoneMatch: strings.TrimSpace(req.Header.Get("If-None-Match"))}
	if v := req.Header.Values("If-Match"); len(v) > 0 {
		c.ifMatch, c.hasIfMatch = strings.TrimSpace(v[0]), true
	}
	return c
}

// holds is RFC 9110's evaluation, as ARM does it: If-Match needs the document to exist
// with that ETag (or any, for *); If-None-Match needs it absent (*) or with another ETag.
func (c conditions) holds(etag string, exists bool) bool {
	if c.hasIfMatch && (!exists || (c.ifMatch != "*" && c.ifMatch != etag)) {
		return false
	}
	if exists && (c.ifNoneMatch == "*" || (c.ifNoneMatch != "" && c.ifNoneMatch == etag)) {
		return false
	}
	return true
}

// exchange carries one request's conditions to a handler, and back the ARM error to
// answer and the ETag the write stored.
type exchange struct {
	t    *Transport
	cond conditions
	fail *Error
	etag string
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// ConditionsHold reports whether the conditional headers of the request being handled
// hold against the stored document (its ETag, and whether it exists); a request
// without conditions always holds. A failure counts as a conflict: answer it with 412.
func ConditionsHold(ctx context.Context, etag string, exists bool) bool {
	ex := exchangeFrom(ctx)
	if ex == nil || ex.cond.holds(etag, exists) {
		return true
	}
	ex.t.mu.Lock()
	defer ex.t.mu.Unlock()
	ex.t.counts.Conflicts++
	return false
}

// Acknowledge tells the transport that the request's write is accepted under etag (the
// answer's ETag header, and the final poll's for a long-running write) and counts it.
// It reports whether to store the document: false when DiscardNext asked to lose it.
func Acknowledge(ctx context.Context, etag string) (keep bool) {
	ex := exchangeFrom(ctx)
	if ex == nil {
		return true
	}
	ex.etag = etag
	ex.t.mu.Lock()
	defer ex.t.mu.Unlock()
	if ex.t.discardN > 0 {
		ex.t.discardN--
		ex.t.counts.Discarded++
		return false
	}
	ex.t.counts.Writes++
	return true
}

// Reject makes the official fake stop with an error and tells the transport which
// real HTTP response to answer instead.
func Reject(ctx context.Context, errResp *azfake.ErrorResponder, e *Error) {
	if ex := exchangeFrom(ctx); ex != nil {
		ex.fail = e
	}
	errResp.SetResponseError(e.Status, e.Code)
}
