package control

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Version is the control API's version in its OpenAPI document.
const Version = "1.0.0"

// OpenAPI is the Swagger 2.0 document of the routes, generated from the route table
// that serves them (Logic Apps custom connectors import Swagger 2.0 only). req gives
// the host the document names.
func (a *API) OpenAPI(req *http.Request) map[string]any {
	g := &schemas{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, r := range a.routes {
		op := map[string]any{
			"operationId": r.ID,
			"summary":     r.Summary,
			"description": r.Description,
			"tags":        []string{r.Tag},
			"produces":    []string{"application/json", "application/problem+json"},
		}
		if r.Produces != "" {
			op["produces"] = []string{r.Produces}
		}
		if len(r.Formats) > 0 {
			op["produces"] = append([]string{"application/json"}, append(r.Formats, "application/problem+json")...)
		}
		var params []any
		for _, p := range r.Params {
			params = append(params, paramDoc(p))
		}
		if r.Body != nil {
			op["consumes"] = []string{"application/json"}
			params = append(params, map[string]any{
				"name": "body", "in": "body", "required": true, "x-ms-summary": "Request",
				"description": "The request, as JSON.", "schema": g.of(reflect.TypeOf(r.Body)),
			})
		}
		if r.Method == http.MethodPost || r.Method == http.MethodDelete {
			params = append(params, map[string]any{
				"name": "Idempotency-Key", "in": "header", "type": "string", "maxLength": maxKey,
				"x-ms-summary": "Idempotency key", "x-ms-visibility": "advanced",
				"description": "Any unique string per request: a retry with the same key gets the first answer and acts once.",
			})
		}
		params = append(params, map[string]any{
			"name": "X-Apiguard-Actor", "in": "header", "type": "string", "maxLength": maxActor,
			"x-ms-summary": "Actor", "x-ms-visibility": "advanced",
			"description": "Who asks (a Logic App's or a person's name); recorded with every change.",
		})
		if params != nil {
			op["parameters"] = params
		}
		op["responses"] = responses(g, r)
		if r.Page {
			op["x-ms-pageable"] = map[string]any{"nextLinkName": "nextLink"}
		}
		if paths[r.Path] == nil {
			paths[r.Path] = map[string]any{}
		}
		paths[r.Path][strings.ToLower(r.Method)] = op
	}
	g.of(reflect.TypeOf(problem{}))
	host, scheme := req.Host, "https"
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	if strings.HasPrefix(host, "127.0.0.1") || strings.HasPrefix(host, "localhost") || strings.HasPrefix(host, "[::1]") {
		scheme = "http"
	}
	return map[string]any{
		"swagger": "2.0",
		"info": map[string]any{
			"title":       "apiguard",
			"version":     Version,
			"description": "See and steer apiguard: blocks, incidents, decisions and approvals, undo, the allow-list, the audit trail and health.",
		},
		"host":                host,
		"basePath":            Prefix,
		"schemes":             []string{scheme},
		"consumes":            []string{"application/json"},
		"produces":            []string{"application/json"},
		"paths":               paths,
		"definitions":         g.defs,
		"securityDefinitions": map[string]any{"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "x-functions-key"}},
		"security":            []any{map[string]any{"apiKey": []string{}}},
	}
}

func paramDoc(p param) map[string]any {
	d := map[string]any{
		"name": p.Name, "in": p.In, "type": p.Type, "required": p.Required || p.In == "path",
		"description": p.Description, "x-ms-summary": title(p.Name),
	}
	if p.Format != "" {
		d["format"] = p.Format
	}
	if len(p.Enum) > 0 {
		d["enum"] = p.Enum
	}
	switch {
	case p.Visibility != "":
		d["x-ms-visibility"] = p.Visibility
	case p.In == "path":
		d["x-ms-visibility"] = "important"
	}
	return d
}

// responses documents the success answer and the problems a route can answer with.
func responses(g *schemas, r route) map[string]any {
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	ok := map[string]any{"description": "Success."}
	if status == http.StatusNoContent {
		ok["description"] = "Done; no content."
	}
	switch {
	case r.Produces != "":
		ok["schema"] = map[string]any{"type": "string"}
	case r.Page:
		ok["schema"] = map[string]any{
			"type":     "object",
			"required": []string{"value"},
			"properties": map[string]any{
				"value":    map[string]any{"type": "array", "items": g.of(reflect.TypeOf(r.Answer)), "x-ms-summary": "Items"},
				"nextLink": map[string]any{"type": "string", "description": "The next page; absent on the last.", "x-ms-summary": "Next page"},
			},
		}
	case r.Answer != nil:
		ok["schema"] = g.of(reflect.TypeOf(r.Answer))
	}
	out := map[string]any{strconv.Itoa(status): ok}
	for code, what := range r.Alt {
		out[strconv.Itoa(code)] = map[string]any{"description": what, "schema": g.of(reflect.TypeOf(r.Answer))}
	}
	problemRef := map[string]any{"$ref": "#/definitions/Problem"}
	add := func(code int, what string) {
		if _, taken := out[strconv.Itoa(code)]; !taken {
			out[strconv.Itoa(code)] = map[string]any{"description": what, "schema": problemRef}
		}
	}
	if len(r.Params) > 0 || r.Body != nil {
		add(http.StatusBadRequest, "A parameter or the body is invalid; the problem's field names it.")
	}
	if strings.Contains(r.Path, "{") {
		add(http.StatusNotFound, "No such item.")
	}
	if r.Method == http.MethodPost || r.Method == http.MethodDelete {
		add(http.StatusConflict, "The current state does not allow this, or a request with this Idempotency-Key is still running.")
		add(http.StatusUnprocessableEntity, "Refused (a protected target), or the Idempotency-Key was used for another request.")
	}
	if r.Body != nil {
		add(http.StatusRequestEntityTooLarge, "The body is too large.")
	}
	add(http.StatusServiceUnavailable, "A dependency is unavailable: retry (Retry-After says when).")
	return out
}

// schemas turns Go types into Swagger 2.0 schemas, named structs as definitions.
type schemas struct {
	defs map[string]any
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
	// enums are the vocabulary's types and their values.
	enums = map[reflect.Type][]string{
		reflect.TypeOf(vocab.Action("")):   strs(vocab.Actions()),
		reflect.TypeOf(vocab.Mode("")):     strs(vocab.Modes()),
		reflect.TypeOf(vocab.KeyType("")):  {string(vocab.KeyIP), "cidr", string(vocab.KeySubscription), string(vocab.KeyUser), string(vocab.KeyAPI)},
		reflect.TypeOf(vocab.Status("")):   strs(vocab.Statuses()),
		reflect.TypeOf(vocab.Severity("")): append([]string{""}, append(strs(vocab.Severities()), string(vocab.SeverityNotGiven))...),
	}
)

func (g *schemas) of(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"type": "object", "description": "Any JSON document."}
	}
	if vals, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": vals}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Interface:
		return map[string]any{"type": "object", "description": "Any JSON document."}
	case reflect.Struct:
		name := defName(t)
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // a recursive type refers to itself
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	return map[string]any{"type": "string"}
}

// object documents a struct's JSON fields; fields without omitempty are required.
func (g *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			s := g.of(f.Type)
			if _, isRef := s["$ref"]; !isRef {
				s["x-ms-summary"] = title(name)
			}
			props[name] = s
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	sort.Strings(required)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// defName names a definition after its Go type: Block, AuditEntry.
func defName(t reflect.Type) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if name == "problem" {
		return "Problem"
	}
	return name
}

// title turns a JSON name into the display name Logic Apps shows: "prior_offences"
// becomes "Prior offences".
func title(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	out := []rune(b.String())
	if len(out) > 0 {
		out[0] = unicode.ToUpper(out[0])
	}
	return string(out)
}
