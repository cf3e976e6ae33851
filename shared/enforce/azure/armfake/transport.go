package armfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	fdfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor/fake"
)

const (
	// pollSuffix is what azcore's fake poller appends to the request path to poll.
	pollSuffix = "/get/fake/status"
	// opSegment marks which Front Door write a poll belongs to (see transport.Do).
	opSegment = "/operations/"
	// fakePollerStatus is the header azcore's fake poller reads the LRO state from.
	fakePollerStatus = "Fake-Poller-Status"
)

// conditions are a PUT's conditional headers, which the official fakes' handlers
// cannot see: the transport passes them through the request context.
type conditions struct {
	ifMatch     string
	hasIfMatch  bool
	ifNoneMatch string
}

// exchange carries one request's conditions to a handler and its ARM error back.
type exchange struct {
	cond conditions
	fail *armError
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
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
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.code, "message": e.msg}})
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

// transport sees every request before the official fake does.
type transport struct{ s *Service }

var _ policy.Transporter = (*transport)(nil)

// Do answers programmed faults itself, hands the conditional headers to the handlers,
// serializes writes, and gives every Front Door write its own fake transport: the
// official one tracks a long-running operation by the policy's path, so two writes of
// one policy in flight would share (and race on) one operation.
func (t *transport) Do(req *http.Request) (*http.Response, error) {
	s := t.s
	if strings.HasSuffix(req.URL.Path, pollSuffix) {
		return s.poll(req)
	}
	if resp, err := s.fault(req); resp != nil || err != nil {
		return resp, err
	}
	ex := &exchange{cond: conditions{ifNoneMatch: strings.TrimSpace(req.Header.Get("If-None-Match"))}}
	if v := req.Header.Values("If-Match"); len(v) > 0 {
		ex.cond.ifMatch, ex.cond.hasIfMatch = strings.TrimSpace(v[0]), true
	}
	inner, op := s.inner, 0
	if req.Method == http.MethodPut {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		if fn := s.popBefore(); fn != nil {
			s.mutate(fn)
		}
		if s.fd != nil {
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
	if op != 0 {
		if !inProgress(resp) {
			s.endOp(op)
			return resp, nil
		}
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
		s.p.Puts++
	} else if req.Method == http.MethodGet {
		s.p.Gets++
	}
	switch {
	case s.dropN > 0:
		s.dropN--
		s.p.Failed++
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case s.failN > 0:
		s.failN--
		s.p.Failed++
		e := &armError{status: s.failStatus, code: s.failCode, msg: "armfake: programmed failure"}
		return e.response(req), nil
	case put && s.throttleN > 0:
		s.throttleN--
		s.p.Throttled++
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
	sub := strings.Split(strings.Trim(s.id, "/"), "/")[1]
	return &armError{status: http.StatusTooManyRequests, code: "SubscriptionRequestsThrottled", header: h,
		msg: fmt.Sprintf("Number of 'write' requests for subscription '%s' exceeded. Please try again after '%d' seconds after additional tokens are available.", sub, secs)}
}

func (s *Service) popBefore() func([]byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.before) == 0 {
		return nil
	}
	fn := s.before[0]
	s.before = s.before[1:]
	return fn
}

// startOp gives one Front Door write its own official fake transport.
func (s *Service) startOp() (int, policy.Transporter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextOp++
	t := fdfake.NewPoliciesServerTransport(s.fd)
	s.ops[s.nextOp] = t
	return s.nextOp, t
}

func (s *Service) endOp(op int) {
	if op == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ops, op)
}

// poll routes a poll of a Front Door write to that write's transport, under the path
// the official fake expects.
func (s *Service) poll(req *http.Request) (*http.Response, error) {
	base := strings.TrimSuffix(req.URL.Path, pollSuffix)
	i := strings.LastIndex(base, opSegment)
	op := 0
	if i >= 0 {
		op, _ = strconv.Atoi(base[i+len(opSegment):])
	}
	s.mu.Lock()
	s.p.Polls++
	t := s.ops[op]
	s.mu.Unlock()
	if t == nil {
		e := &armError{status: http.StatusNotFound, code: "OperationNotFound", msg: "armfake: no such operation in progress: " + req.URL.Path}
		return e.response(req), nil
	}
	r := req.Clone(req.Context())
	r.URL.Path = base[:i] + pollSuffix
	r.URL.RawPath = ""
	resp, err := t.Do(r)
	if err != nil || !inProgress(resp) {
		s.endOp(op)
		return resp, err
	}
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
