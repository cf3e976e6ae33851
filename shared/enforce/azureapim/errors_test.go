package azureapim

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/fault"
)

// The mapping on bare response errors, including what the fake cannot produce: a
// long-running write that ended Failed (2xx final status) and 404s on reads.
func TestClassify(t *testing.T) {
	now := time.Now()
	re := func(status int, code string) error { return &azcore.ResponseError{StatusCode: status, ErrorCode: code} }
	cases := []struct {
		err    error
		want   fault.Disposition
		status int
	}{
		{re(http.StatusOK, "Failed"), fault.Retry, 0},
		{re(http.StatusConflict, "RetryableError"), fault.Retry, 0},
		{re(http.StatusConflict, "Conflict"), fault.Reject, http.StatusConflict},
		{re(http.StatusUnprocessableEntity, "ValidationError"), fault.Reject, http.StatusUnprocessableEntity},
		{re(http.StatusBadGateway, ""), fault.Retry, 0},
		{errors.New("dial tcp: no route to host"), fault.Retry, 0},
	}
	for _, c := range cases {
		err := classify("write", "x", c.err, now, "")
		if fault.Of(err) != c.want || (c.status != 0 && fault.StatusOf(err) != c.status) {
			t.Errorf("%v: got %s/%d", c.err, fault.Of(err), fault.StatusOf(err))
		}
	}
	if err := classify("write", "x", re(http.StatusPreconditionFailed, "PreconditionFailed"), now, ""); !errors.Is(err, enforce.ErrPrecondition) {
		t.Errorf("412: %v", err)
	}
	for code, want := range map[string]bool{"ResourceNotFound": true, "": true, "ResourceGroupNotFound": false, "SubscriptionNotFound": false} {
		if got := absent(re(http.StatusNotFound, code)); got != want {
			t.Errorf("absent(404 %q) = %v", code, got)
		}
	}
	if absent(re(http.StatusForbidden, "AuthorizationFailed")) || absent(nil) {
		t.Error("only a 404 means absent")
	}
}
