package armfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// The policy's GET and PUT are answered from the stored bytes, not through the
// official fake servers: those unmarshal into the SDK's typed models, and so would
// drop every field their API version does not know, which is exactly what the
// backends must be shown to keep. What they do otherwise is kept: the transport
// protocol azcore's clients and pollers expect (JSON bodies, the ETag header, and
// azcore's fake long-running protocol, Fake-Poller-Status on the PUT and on polls of
// path + "/get/fake/status"), so the SDK's own typed clients work against it too.
// Other methods (delete, list) answer 405: apiguard never calls them.

// fakePollerStatus is the header azcore's fake poller reads an operation's state from.
const fakePollerStatus = "Fake-Poller-Status"

// server answers the policy's GET and synchronous PUT.
type server struct{ s *Service }

func (v server) Do(req *http.Request) (*http.Response, error) {
	rg, name, fail := v.s.route(req)
	if fail == nil {
		switch req.Method {
		case http.MethodGet:
			doc, etag, fail := v.s.read(rg, name)
			if fail != nil {
				return fail.Response(req), nil
			}
			return answer(req, http.StatusOK, doc, etag), nil
		case http.MethodPut:
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			doc, etag, fail := v.s.write(req.Context(), rg, name, body)
			if fail != nil {
				return fail.Response(req), nil
			}
			return answer(req, http.StatusOK, doc, etag), nil
		}
		fail = notAllowed(req)
	}
	return fail.Response(req), nil
}

// operation answers one long-running write: the PUT (checked and applied at once,
// answered 202 in progress), one more in-progress poll, then 200 with the stored
// policy, as the official Front Door fake was programmed.
type operation struct {
	s *Service

	mu    sync.Mutex
	polls int
	doc   []byte
}

func (o *operation) Do(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/get/fake/status") {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.polls++
		if o.polls < 2 {
			return progress(req, http.StatusAccepted, nil, "", "InProgress"), nil
		}
		return progress(req, http.StatusOK, o.doc, "", "Succeeded"), nil
	}
	rg, name, fail := o.s.route(req)
	if fail == nil && req.Method != http.MethodPut {
		fail = notAllowed(req)
	}
	if fail != nil {
		return fail.Response(req), nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	doc, _, fail := o.s.write(req.Context(), rg, name, body)
	if fail != nil {
		return fail.Response(req), nil
	}
	o.mu.Lock()
	o.doc = doc
	o.mu.Unlock()
	return progress(req, http.StatusAccepted, nil, "", "InProgress"), nil
}

var (
	_ policy.Transporter = server{}
	_ policy.Transporter = (*operation)(nil)
)

// route reads a policy path: /subscriptions/{s}/resourceGroups/{rg}/providers/
// Microsoft.Network/{type}/{name}. Another path is a 400, as ARM answers an
// unroutable one.
func (s *Service) route(req *http.Request) (rg, name string, fail *fakearm.Error) {
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(segs) != 8 || !strings.EqualFold(segs[0], "subscriptions") || !strings.EqualFold(segs[2], "resourceGroups") ||
		!strings.EqualFold(segs[4], "providers") || !strings.EqualFold(segs[5], "Microsoft.Network") ||
		!strings.EqualFold(segs[6], s.kind.typeName) {
		return "", "", &fakearm.Error{Status: http.StatusBadRequest, Code: "InvalidResourceType",
			Message: fmt.Sprintf("armfake: %s is not a %s WAF policy path", req.URL.Path, s.kind.name)}
	}
	return segs[3], segs[7], nil
}

func notAllowed(req *http.Request) *fakearm.Error {
	return &fakearm.Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
		Message: "armfake: " + req.Method + " is not implemented: apiguard never calls it"}
}

func answer(req *http.Request, status int, body []byte, etag string) *http.Response {
	return progress(req, status, body, etag, "")
}

// progress is a JSON response; state, when set, is azcore's fake poller state.
func progress(req *http.Request, status int, body []byte, etag, state string) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	if etag != "" {
		h.Set("ETag", etag)
	}
	if state != "" {
		h.Set(fakePollerStatus, state)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// member is one member of a JSON object, its value verbatim.
type member struct {
	key string
	val json.RawMessage
}

// members reads the object doc as its members in order, values byte for byte.
func members(doc []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		ms = append(ms, member{key: tok.(string), val: val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return ms, nil
}

// set gives key the value v (JSON), in place when present, else last.
func set(ms []member, key string, v any) []member {
	b, _ := json.Marshal(v)
	for i := range ms {
		if ms[i].key == key {
			ms[i].val = b
			return ms
		}
	}
	return append(ms, member{key: key, val: b})
}

// object writes members back as one object; the values keep their bytes.
func object(ms []member) []byte {
	var out bytes.Buffer
	out.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(m.val)
	}
	out.WriteByte('}')
	return out.Bytes()
}

// restamp sets what the service owns (id, name, type, etag and
// properties.provisioningState) and keeps every other byte of the members, known to
// the SDK or not: the service's answer is the document as stored.
func restamp(doc []byte, id, name, typ, etag, state string) ([]byte, error) {
	ms, err := members(doc)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if ms[i].key != "properties" || string(ms[i].val) == "null" {
			continue
		}
		ps, err := members(ms[i].val)
		if err != nil {
			return nil, fmt.Errorf("properties: %w", err)
		}
		ms[i].val = object(set(ps, "provisioningState", state))
	}
	ms = set(ms, "id", id)
	ms = set(ms, "name", name)
	ms = set(ms, "type", typ)
	ms = set(ms, "etag", etag)
	return object(ms), nil
}
