package fakearm

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const (
	// pollSuffix is what azcore's fake poller appends to the request path to poll.
	pollSuffix = "/get/fake/status"
	// opSegment names the write a poll belongs to (see started).
	opSegment = "/operations/"
	// fakePollerStatus is the header azcore's fake poller reads the LRO state from.
	fakePollerStatus = "Fake-Poller-Status"
)

// operation is one long-running write in progress.
type operation struct {
	tr   policy.Transporter
	etag string // what the write stored, for the final poll
}

// startOp gives one long-running write its own official fake transport.
func (t *Transport) startOp() (int, policy.Transporter) {
	tr := t.svc.Operation()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextOp++
	t.ops[t.nextOp] = &operation{tr: tr}
	return t.nextOp, tr
}

func (t *Transport) endOp(op int) {
	if op == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.ops, op)
}

// started completes the answer to the PUT that started operation op: done at once, the
// operation ends; in progress, azcore's fake poller will poll resp.Request's path +
// pollSuffix, so the operation is named in that path for poll to find.
func (t *Transport) started(op int, etag string, resp *http.Response) *http.Response {
	if !inProgress(resp) {
		t.endOp(op)
		return resp
	}
	t.mu.Lock()
	if o := t.ops[op]; o != nil {
		o.etag = etag
	}
	t.mu.Unlock()
	r := resp.Request.Clone(resp.Request.Context())
	r.URL.Path += opSegment + strconv.Itoa(op)
	r.URL.RawPath = ""
	resp.Request = r
	pace(resp)
	return resp
}

// poll routes a poll to its write's transport, under the path the official fake
// expects. In progress it answers 202 (some official transports let only 200/201
// through); done, the result with the ETag the write stored.
func (t *Transport) poll(req *http.Request) (*http.Response, error) {
	base := strings.TrimSuffix(req.URL.Path, pollSuffix)
	i := strings.LastIndex(base, opSegment)
	op := 0
	if i >= 0 {
		op, _ = strconv.Atoi(base[i+len(opSegment):])
	}
	t.mu.Lock()
	t.counts.Polls++
	o := t.ops[op]
	t.mu.Unlock()
	if o == nil {
		e := &Error{Status: http.StatusNotFound, Code: "OperationNotFound", Message: t.name + ": no such operation in progress: " + req.URL.Path}
		return e.Response(req), nil
	}
	r := req.Clone(req.Context())
	r.URL.Path = base[:i] + pollSuffix
	r.URL.RawPath = ""
	resp, err := o.tr.Do(r)
	if err != nil {
		t.endOp(op)
		return nil, err
	}
	if !inProgress(resp) {
		t.endOp(op)
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
