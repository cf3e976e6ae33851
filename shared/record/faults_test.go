package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/apiguard/apiguard/shared/fault"
)

// batchFailure is a failed entity group transaction as the service returns it:
// 202 Accepted around a changeset holding the failed operation's response.
func batchFailure(innerStatus int, code string) *http.Response {
	body := fmt.Sprintf("--batchresponse_1\r\n"+
		"Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"+
		"--changesetresponse_2\r\n"+
		"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"+
		"HTTP/1.1 %d %s\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n"+
		`{"odata.error":{"code":"%s","message":{"lang":"en-US","value":"0:failed"}}}`+"\r\n"+
		"--changesetresponse_2--\r\n"+
		"--batchresponse_1--\r\n", innerStatus, http.StatusText(innerStatus), code)
	req, _ := http.NewRequest(http.MethodPost, "https://acct.table.core.windows.net/$batch", nil)
	return &http.Response{
		StatusCode: http.StatusAccepted,
		Header:     http.Header{"Content-Type": {"multipart/mixed; boundary=batchresponse_1"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		conflict    bool
		disposition fault.Disposition
		marked      bool // carries an explicit fault
	}{
		{"batch 412", runtime.NewResponseError(batchFailure(412, "UpdateConditionNotSatisfied")), true, fault.Retry, false},
		{"batch 409", runtime.NewResponseError(batchFailure(409, "EntityAlreadyExists")), true, fault.Retry, false},
		{"batch 503", runtime.NewResponseError(batchFailure(503, "ServerBusy")), false, fault.Retry, true},
		{"batch 429", runtime.NewResponseError(batchFailure(429, "")), false, fault.Retry, true},
		{"batch 400", runtime.NewResponseError(batchFailure(400, "InvalidInput")), false, fault.Retry, false},
		{"direct 500", runtime.NewResponseError(plain(500)), false, fault.Retry, true},
		{"direct 404", runtime.NewResponseError(plain(404)), false, fault.Retry, false},
		{"deadline", context.DeadlineExceeded, false, fault.Retry, true},
		{"connection reset", io.ErrUnexpectedEOF, false, fault.Retry, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classify("op", c.err)
			if errors.Is(err, ErrConflict) != c.conflict {
				t.Errorf("conflict = %v, want %v: %v", !c.conflict, c.conflict, err)
			}
			var fe *fault.Error
			if errors.As(err, &fe) != c.marked {
				t.Errorf("marked = %v, want %v", !c.marked, c.marked)
			}
			if fault.Of(err) != c.disposition {
				t.Errorf("disposition = %v", fault.Of(err))
			}
		})
	}
}

func TestTransactionFailureWithoutContentType(t *testing.T) {
	resp := batchFailure(412, "UpdateConditionNotSatisfied")
	resp.Header.Del("Content-Type")
	status, code, ok := transactionFailure(resp)
	if !ok || status != 412 || code != "UpdateConditionNotSatisfied" {
		t.Fatalf("= %d %q %v", status, code, ok)
	}
	// A successful batch has no failure to report.
	ok200 := batchFailure(204, "")
	if _, _, ok := transactionFailure(ok200); ok {
		t.Error("success reported as failure")
	}
	garbage := &http.Response{StatusCode: 202, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader([]byte("nope")))}
	if _, _, ok := transactionFailure(garbage); ok {
		t.Error("garbage parsed")
	}
}

func plain(status int) *http.Response {
	req, _ := http.NewRequest(http.MethodGet, "https://acct.table.core.windows.net/t()", nil)
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: req}
}
