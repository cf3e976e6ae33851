// Package envelope reads and writes the JSON envelope the Azure Functions host exchanges
// with a custom handler: {"Data", "Metadata"} in, {"Outputs", "Logs", "ReturnValue"} out.
//
// The host JSON-encodes values inconsistently (strings wrapped in one or two extra string
// layers, .NET timestamps without zone), so every accessor decodes defensively and every
// failure is a fault.Rejected error that names the binding or key at fault. See README.md
// for the shapes and the choices made where the host's behaviour is ambiguous.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// DefaultLimit bounds ReadRequest when the caller passes no positive limit: the front
// end's 100 MB HTTP body limit after base64 and envelope overhead.
const DefaultLimit int64 = 140 << 20

// Request is one invocation as the host POSTs it: {"Data": {...}, "Metadata": {...}}.
// Data holds one value per input binding; Metadata holds trigger metadata and "sys".
type Request struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

// ReadRequest reads one envelope of at most limit bytes (DefaultLimit when limit <= 0).
// An envelope over the limit is rejected with 413 without reading the rest; malformed
// JSON is rejected with 400 naming the problem and its line, column and byte offset.
// A failing reader is a transient fault: the input was not at fault.
func ReadRequest(r io.Reader, limit int64) (*Request, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	n := limit
	if n < math.MaxInt64 {
		n++ // one byte more tells "exactly at the limit" from "over it"
	}
	data, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fault.Rejected(http.StatusRequestEntityTooLarge,
				fmt.Errorf("envelope: request body over %d bytes", mbe.Limit))
		}
		return nil, fault.Transient(fmt.Errorf("envelope: read request: %w", err))
	}
	if int64(len(data)) > limit {
		return nil, fault.Rejected(http.StatusRequestEntityTooLarge,
			fmt.Errorf("envelope: request body over %d bytes", limit))
	}
	return decodeRequest(data)
}

func decodeRequest(data []byte) (*Request, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, reject("envelope: empty request body, want a JSON object")
	}
	if string(trimmed) == "null" {
		return nil, reject("envelope: request body is null, want a JSON object")
	}
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			at := se.Offset - 1 // Offset counts the byte the scanner rejected...
			if strings.HasPrefix(se.Error(), "unexpected end") {
				at = se.Offset // ...unless it ran out of bytes
			}
			return nil, reject("envelope: malformed JSON at %s: %v", position(data, at), se)
		case errors.As(err, &te):
			what := "envelope"
			if te.Field != "" {
				what = "envelope field " + te.Field
			}
			return nil, reject("envelope: %s must be a JSON object, got %s at %s", what, te.Value, position(data, te.Offset-1))
		default:
			return nil, reject("envelope: %v", err)
		}
	}
	return &req, nil
}

// position renders the 0-based byte offset at as "line L, column C (offset N)" for people
// reading logs; lines and columns count from 1, columns in bytes.
func position(data []byte, at int64) string {
	at = max(0, min(at, int64(len(data))))
	before := data[:at]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, at)
}

// reject builds the 400 every input error in this package is.
func reject(format string, args ...any) error {
	return fault.Rejected(http.StatusBadRequest, fmt.Errorf(format, args...))
}

// binding returns Data[name], failing with an error that names the binding.
func (r *Request) binding(name string) (json.RawMessage, error) {
	raw, ok := r.Data[name]
	if !ok {
		return nil, reject("envelope: binding %q absent from Data", name)
	}
	return raw, nil
}

// bindingInto decodes Data[name], a JSON object (unwrapped when the host sent it as a
// string), into dst. what names the expected shape for the error message.
func (r *Request) bindingInto(name, what string, dst any) error {
	raw, err := r.binding(name)
	if err != nil {
		return err
	}
	present, err := valueInto(raw, dst)
	if err != nil {
		return reject("envelope: binding %q: %s: %v", name, what, err)
	}
	if !present {
		return reject("envelope: binding %q: %s is null", name, what)
	}
	return nil
}

// Sys is the host's own invocation bookkeeping from Metadata.sys.
type Sys struct {
	MethodName string
	UtcNow     time.Time
	RandGuid   string
}

// Sys returns Metadata.sys. It is best-effort (missing or unreadable values are zero):
// the host's bookkeeping is for logs and must never fail an invocation.
func (r *Request) Sys() Sys {
	var w struct{ MethodName, UtcNow, RandGuid json.RawMessage }
	var s Sys
	if ok, err := valueInto(r.Metadata["sys"], &w); !ok || err != nil {
		return s
	}
	s.MethodName, _ = valueString(w.MethodName)
	s.UtcNow, _ = valueTime(w.UtcNow)
	s.RandGuid, _ = valueString(w.RandGuid)
	return s
}
