package apimfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	sdkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3/fake"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
)

const (
	// pollSuffix is what azcore's fake poller appends to the request path to poll.
	pollSuffix = "/get/fake/status"
	// opSegment marks which fragment write a poll belongs to (see transport.Do).
	opSegment = "/operations/"
	// fakePollerStatus is the header azcore's fake poller reads the LRO state from.
	fakePollerStatus = "Fake-Poller-Status"
)

// conditions are a PUT's conditional headers: the official handlers see If-Match
// only, so the transport passes both through the request context.
type conditions struct {
	ifMatch     string
	hasIfMatch  bool
	ifNoneMatch string
}

// exchange carries one request's conditions to a handler, and its ARM error and the
// ETag it stored back.
type exchange struct {
	cond conditions
	fail *armError
	etag string
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

func conditionsOf(ctx context.Context) conditions {
	if ex := exchangeFrom(ctx); ex != nil {
		return ex.cond
	}
	return conditions{}
}

// armError is an ARM failure answered as a real HTTP response, so azcore's retry
// policy and runtime.NewResponseError see what they would see from Azure.
type armError struct {
	status int
	code   string
	msg    string
	header http.Header
}

func (e *armError) response(req *http.Request) *http.Response {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.code, "message": e.msg, "details": nil}})
	h := http.Header{}
	for k, v := range e.header {
		h[k] = append([]string(nil), v...)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", e.status, http.StatusText(e.status)),
		StatusCode:    e.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// reject makes the official fake stop with an error and tells the transport which
// real HTTP response to answer instead.
func reject(ctx context.Context, errResp *fake.ErrorResponder, fail *armError) {
	if ex := exchangeFrom(ctx); ex != nil {
		ex.fail = fail
	}
	errResp.SetResponseError(fail.status, fail.code)
}

// target is what a request's path addresses.
type target struct {
	sub      string
	key      string // policyKey or fragmentKey
	name     string // the scope or fragment id as written
	fragment bool
}

// parseTarget reads .../service/{svc}/{policies/policy | products/{p}/policies/policy |
// apis/{a}/policies/policy | apis/{a}/operations/{o}/policies/policy | policyFragments/{id}}.
func parseTarget(u *url.URL) (target, bool) {
	raw := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, r := range raw {
		v, err := url.PathUnescape(r)
		if err != nil {
			return target{}, false
		}
		segs[i] = v
	}
	if len(segs) < 9 || !strings.EqualFold(segs[0], "subscriptions") {
		return target{}, false
	}
	t := target{sub: segs[1]}
	tail := segs[8:]
	if len(tail) == 2 && strings.EqualFold(tail[0], "policyFragments") {
		t.key, t.name, t.fragment = fragmentKey(tail[1]), tail[1], true
		return t, true
	}
	if len(tail) < 2 || !strings.EqualFold(tail[len(tail)-2], "policies") {
		return target{}, false
	}
	var sc azureapim.Scope
	switch p := tail[:len(tail)-2]; {
	case len(p) == 0:
	case len(p) == 2 && strings.EqualFold(p[0], "products"):
		sc.Product = p[1]
	case len(p) == 2 && strings.EqualFold(p[0], "apis"):
		sc.API = p[1]
	case len(p) == 4 && strings.EqualFold(p[0], "apis") && strings.EqualFold(p[2], "operations"):
		sc.API, sc.Operation = p[1], p[3]
	default:
		return target{}, false
	}
	t.key, t.name = policyKey(sc), sc.String()
	return t, true
}

// transport sees every request before the official fakes do.
type transport struct{ s *Service }

var _ policy.Transporter = (*transport)(nil)

// Do answers programmed faults itself, hands the conditional headers to the handlers,
// serializes writes and runs concurrent writers, and gives every fragment write its
// own fake transport: the official one tracks a long-running operation by the
// fragment's path, so two writes of one fragment in flight would share (and race on)
// one operation.
func (t *transport) Do(req *http.Request) (*http.Response, error) {
	s := t.s
	if strings.HasSuffix(req.URL.Path, pollSuffix) {
		return s.poll(req)
	}
	if resp, err := s.fault(req); resp != nil || err != nil {
		return resp, err
	}
	tg, known := parseTarget(req.URL)
	if known && !strings.EqualFold(tg.sub, s.svc.Subscription) {
		e := &armError{status: http.StatusNotFound, code: "SubscriptionNotFound", msg: fmt.Sprintf("The subscription '%s' could not be found.", tg.sub)}
		return e.response(req), nil
	}
	ex := &exchange{cond: conditions{ifNoneMatch: strings.TrimSpace(req.Header.Get("If-None-Match"))}}
	if v := req.Header.Values("If-Match"); len(v) > 0 {
		ex.cond.ifMatch, ex.cond.hasIfMatch = strings.TrimSpace(v[0]), true
	}
	inner, op := s.inner, 0
	if req.Method == http.MethodPut {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		if known {
			if fn := s.popBefore(tg.key); fn != nil {
				s.mutate(tg.key, tg.name, fn)
			}
		}
		if known && tg.fragment {
			op, inner = s.startOp()
		}
	}
	resp, err := inner.Do(req.WithContext(context.WithValue(req.Context(), exchangeKey{}, ex)))
	switch {
	case err != nil && req.Context().Err() != nil:
		s.endOp(op) // the handler may still run; ex is not read
		return nil, err
	case ex.fail != nil:
		s.endOp(op)
		return ex.fail.response(req), nil
	case err != nil:
		s.endOp(op)
		return nil, err
	}
	if ex.etag != "" {
		resp.Header.Set("ETag", ex.etag)
	}
	if op != 0 {
		if !inProgress(resp) {
			s.endOp(op)
			return resp, nil
		}
		s.setOpETag(op, ex.etag)
		// azcore's fake poller polls resp.Request's path + pollSuffix: name the
		// operation in it, so poll can find this write's transport.
		r := resp.Request.Clone(resp.Request.Context())
		r.URL.Path += opSegment + strconv.Itoa(op)
		r.URL.RawPath = ""
		resp.Request = r
		pace(resp)
	}
	return resp, nil
}

// fault counts the request and answers it when a fault is programmed (nil, nil: go on).
func (s *Service) fault(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	put := req.Method == http.MethodPut
	if put {
		s.counts.Puts++
	} else if req.Method == http.MethodGet {
		s.counts.Gets++
	}
	switch {
	case s.dropN > 0:
		s.dropN--
		s.counts.Failed++
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case s.failN > 0:
		s.failN--
		s.counts.Failed++
		e := &armError{status: s.failStatus, code: s.failCode, msg: "apimfake: programmed failure"}
		return e.response(req), nil
	case put && s.throttleN > 0:
		s.throttleN--
		s.counts.Throttled++
		return s.throttled(s.throttleD).response(req), nil
	}
	return nil, nil
}

// throttled is ARM's answer when the subscription's write bucket is empty.
func (s *Service) throttled(d time.Duration) *armError {
	secs := int64((d + time.Second - 1) / time.Second)
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	if d%time.Second != 0 {
		h.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
	h.Set("x-ms-ratelimit-remaining-subscription-writes", "0")
	return &armError{status: http.StatusTooManyRequests, code: "SubscriptionRequestsThrottled", header: h,
		msg: fmt.Sprintf("Number of 'write' requests for subscription '%s' exceeded. Please try again after '%d' seconds after additional tokens are available.", s.svc.Subscription, secs)}
}

// operation is one fragment write in progress.
type operation struct {
	tr   policy.Transporter
	etag string
}

// startOp gives one fragment write its own official fake transport.
func (s *Service) startOp() (int, policy.Transporter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextOp++
	tr := sdkfake.NewPolicyFragmentServerTransport(&s.srv.PolicyFragmentServer)
	s.ops[s.nextOp] = &operation{tr: tr}
	return s.nextOp, tr
}

func (s *Service) setOpETag(op int, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.ops[op]; o != nil {
		o.etag = etag
	}
}

func (s *Service) endOp(op int) {
	if op == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ops, op)
}

// poll routes a poll of a fragment write to that write's transport, under the path the
// official fake expects. In progress it answers 202 (the official transport lets only
// 200/201 through); done, 200 with the fragment and the ETag the write stored.
func (s *Service) poll(req *http.Request) (*http.Response, error) {
	base := strings.TrimSuffix(req.URL.Path, pollSuffix)
	i := strings.LastIndex(base, opSegment)
	op := 0
	if i >= 0 {
		op, _ = strconv.Atoi(base[i+len(opSegment):])
	}
	s.mu.Lock()
	s.counts.Polls++
	o := s.ops[op]
	s.mu.Unlock()
	if o == nil {
		e := &armError{status: http.StatusNotFound, code: "OperationNotFound", msg: "apimfake: no such operation in progress: " + req.URL.Path}
		return e.response(req), nil
	}
	r := req.Clone(req.Context())
	r.URL.Path = base[:i] + pollSuffix
	r.URL.RawPath = ""
	resp, err := o.tr.Do(r)
	if err != nil {
		s.endOp(op)
		return nil, err
	}
	if !inProgress(resp) {
		s.endOp(op)
		if o.etag != "" {
			resp.Header.Set("ETag", o.etag)
		}
		return resp, nil
	}
	resp.StatusCode, resp.Status = http.StatusAccepted, "202 Accepted"
	pace(resp)
	return resp, nil
}

func inProgress(resp *http.Response) bool {
	return resp != nil && resp.Header.Get(fakePollerStatus) == "InProgress"
}

// pace asks the poller to come back in a millisecond (ARM sends Retry-After on
// in-progress responses; pollers honour it over their own frequency).
func pace(resp *http.Response) {
	resp.Header.Set("Retry-After-Ms", "1")
}
