package record

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/fault"
)

// ErrConflict reports that an ETag condition failed (412) or a concurrent insert
// won (409). Callers re-read and decide again; MergeBlock and Reserve do so
// themselves and return it only when their attempts run out.
var ErrConflict = errors.New("record: concurrent update")

// ErrNotFound reports that an operation needs a row that does not exist (an
// UpdateDecision of an unknown decision). It comes as a fault.Rejected 404.
var ErrNotFound = errors.New("record: not found")

// notFound is a rejection wrapping ErrNotFound that names what is missing.
func notFound(format string, args ...any) error {
	return fault.Rejected(http.StatusNotFound, fmt.Errorf("%w: "+format, append([]any{ErrNotFound}, args...)...))
}

// statusOf returns the service's status and error code for err. A failed
// transaction arrives as a ResponseError with status 202 and no code (on Azure
// and Azurite alike); its real status is that of the failed operation inside the
// multipart body, which is read here so callers never see the 202.
func statusOf(err error) (int, string) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return 0, ""
	}
	if re.StatusCode >= 200 && re.StatusCode < 300 && re.ErrorCode == "" {
		if status, code, ok := transactionFailure(re.RawResponse); ok {
			return status, code
		}
	}
	return re.StatusCode, re.ErrorCode
}

// classify gives a storage error its disposition: conflicts wrap ErrConflict,
// throttling, server faults and network failures are transient, and anything else
// is returned with context but unmarked.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("record: %s: %w", op, err)
	status, code := statusOf(err)
	switch {
	case status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case status == http.StatusConflict && code == string(aztables.TableBeingDeleted):
		return fault.Transient(err)
	case status == http.StatusConflict:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case status == http.StatusNotFound && code == string(aztables.TableNotFound):
		// The table went away after we created it; it is re-created on the next call.
		return fault.Transient(err)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return fault.Transient(err)
	case status != 0:
		return err
	case isNetworkFault(err):
		return fault.Transient(err)
	}
	return err
}

// isNetworkFault reports failures before any response: refused or reset
// connections, DNS, timeouts, a cancelled invocation.
func isNetworkFault(err error) bool {
	var ne net.Error
	switch {
	case errors.As(err, &ne):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// isEntityNotFound tells a missing row (404 ResourceNotFound) from a missing table.
func isEntityNotFound(err error) bool {
	status, code := statusOf(err)
	return status == http.StatusNotFound && code != string(aztables.TableNotFound)
}

func isTableNotFound(err error) bool {
	status, code := statusOf(err)
	return status == http.StatusNotFound && code == string(aztables.TableNotFound)
}

// transactionFailure finds the failed operation in a batch response body:
// multipart/mixed (batch) -> multipart/mixed (changeset) -> application/http
// responses, of which the failed one has a 4xx/5xx status and an OData error.
func transactionFailure(resp *http.Response) (int, string, bool) {
	if resp == nil {
		return 0, "", false
	}
	body, err := runtime.Payload(resp)
	if err != nil || len(body) == 0 {
		return 0, "", false
	}
	boundary := boundaryOf(resp.Header.Get("Content-Type"), body)
	if boundary == "" {
		return 0, "", false
	}
	return scanParts(multipart.NewReader(bytes.NewReader(body), boundary), 0)
}

func scanParts(r *multipart.Reader, depth int) (int, string, bool) {
	for {
		part, err := r.NextPart()
		if err != nil {
			return 0, "", false
		}
		data, err := io.ReadAll(part)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, "", false
		}
		if b := boundaryOf(part.Header.Get("Content-Type"), data); depth < 2 && b != "" && strings.HasPrefix(string(data), "--") {
			if status, code, ok := scanParts(multipart.NewReader(bytes.NewReader(data), b), depth+1); ok {
				return status, code, true
			}
			continue
		}
		inner, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			continue
		}
		payload, _ := io.ReadAll(inner.Body)
		inner.Body.Close()
		if inner.StatusCode < 300 {
			continue
		}
		return inner.StatusCode, odataErrorCode(payload), true
	}
}

// boundaryOf takes the boundary from a multipart Content-Type, or, as aztables
// does, from the body's first line when the header is missing.
func boundaryOf(contentType string, body []byte) string {
	if mt, params, err := mime.ParseMediaType(contentType); err == nil && strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		return params["boundary"]
	}
	if !bytes.HasPrefix(body, []byte("--")) {
		return ""
	}
	line, _, _ := bytes.Cut(body[2:], []byte("\n"))
	return strings.TrimSpace(string(line))
}

func odataErrorCode(payload []byte) string {
	var e struct {
		OData struct {
			Code string `json:"code"`
		} `json:"odata.error"`
	}
	if json.Unmarshal(payload, &e) == nil {
		return e.OData.Code
	}
	return ""
}
