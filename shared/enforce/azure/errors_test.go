package azure

import (
	"net/http"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestClientOptionsLeave429ToTheCaller(t *testing.T) {
	got := clientOptions(nil)
	if slices.Contains(got.Retry.StatusCodes, http.StatusTooManyRequests) {
		t.Fatalf("429 still retried by azcore: %v", got.Retry.StatusCodes)
	}
	for _, code := range []int{408, 500, 502, 503, 504} {
		if !slices.Contains(got.Retry.StatusCodes, code) {
			t.Fatalf("azcore default %d dropped: %v", code, got.Retry.StatusCodes)
		}
	}

	mine := &arm.ClientOptions{}
	mine.Retry = policy.RetryOptions{MaxRetries: 7}
	got = clientOptions(mine)
	if got.Retry.MaxRetries != 7 || mine.Retry.StatusCodes != nil {
		t.Fatalf("caller's options not kept or mutated: %+v / %+v", got.Retry, mine.Retry)
	}

	mine.Retry.StatusCodes = []int{429}
	got = clientOptions(mine)
	if !slices.Equal(got.Retry.StatusCodes, []int{429}) {
		t.Fatalf("caller's status codes replaced: %v", got.Retry.StatusCodes)
	}
}
