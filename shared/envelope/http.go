package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
)

// HTTPRequest is an httpTrigger binding's request as the host forwards it.
type HTTPRequest struct {
	URL, Method string
	Query       map[string]string
	Headers     http.Header // canonical keys, so Headers.Get works
	Params      map[string]string
	Body        []byte // nil when the request had no body
	AuthLevel   string // the key level the host checked: "Function", "Admin", "Anonymous", or ""
}

// wireHTTP is Data.<binding> for an httpTrigger. encoding/json matches these names
// case-insensitively, which covers the host's PascalCase and hand-written camelCase.
type wireHTTP struct {
	URL        string `json:"Url"`
	Method     string
	Query      map[string]string
	Headers    map[string]json.RawMessage // {k:[v...]}; a bare string is tolerated
	Params     map[string]string
	Identities []wireIdentity
	Body       json.RawMessage
}

type wireIdentity struct {
	Claims []struct{ Type, Value string }
}

// authLevelClaim ends the claim type the host uses for the key level it verified
// ("http://schemas.microsoft.com/2017/07/functions/claims/authlevel").
const authLevelClaim = "/claims/authlevel"

// HTTP decodes the httpTrigger binding named binding. The body arrives as a string; for
// application/octet-stream and multipart/* the host base64-encodes it, so it is decoded
// back to the bytes the client sent.
func (r *Request) HTTP(binding string) (*HTTPRequest, error) {
	var w wireHTTP
	if err := r.bindingInto(binding, "HTTP request", &w); err != nil {
		return nil, err
	}
	req := &HTTPRequest{
		URL:     w.URL,
		Method:  w.Method,
		Query:   w.Query,
		Headers: make(http.Header, len(w.Headers)),
		Params:  w.Params,
	}
	for name, raw := range w.Headers {
		values, err := headerValues(raw)
		if err != nil {
			return nil, reject("envelope: binding %q: header %q: %v", binding, name, err)
		}
		for _, v := range values {
			req.Headers.Add(name, v)
		}
	}
	for _, id := range w.Identities {
		for _, c := range id.Claims {
			if req.AuthLevel == "" && strings.HasSuffix(strings.ToLower(c.Type), authLevelClaim) {
				req.AuthLevel = c.Value
			}
		}
	}
	var err error
	req.Body, err = httpBody(w.Body, req.Headers.Get("Content-Type"))
	if err != nil {
		return nil, reject("envelope: binding %q: Body: %v", binding, err)
	}
	return req, nil
}

// headerValues reads one header: the host sends a list, hand-written samples a string.
func headerValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] == '[' {
		var vs []string
		if err := json.Unmarshal(raw, &vs); err != nil {
			return nil, errors.New("want a list of strings")
		}
		return vs, nil
	}
	s, err := plainString(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// httpBody turns the host's Body into the bytes the client sent.
func httpBody(raw json.RawMessage, contentType string) ([]byte, error) {
	if isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] != '"' {
		// Not what the host sends, but some tools post the body as parsed JSON: keep it.
		return []byte(raw), nil
	}
	s, err := plainString(raw)
	if err != nil {
		return nil, err
	}
	if !base64Body(contentType) {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("content type " + quoteShort(contentType) + " needs a base64 body: " + err.Error())
	}
	return b, nil
}

// base64Body reports the content types whose bodies the host base64-encodes.
func base64Body(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}
