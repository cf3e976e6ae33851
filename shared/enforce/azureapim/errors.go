package azureapim

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/apiguard/apiguard/shared/enforce/armfault"
)

// ARM's codes for a 404 whose container is missing: on a read these are not "no
// policy here" but a wrong id or missing access, and are reported as such.
var containerMissing = []string{"SubscriptionNotFound", "ResourceGroupNotFound", "ParentResourceNotFound"}

// absent reports whether a read's error means "nothing stored here": a 404 other than
// a missing subscription or resource group. APIM answers the same 404
// (ResourceNotFound) for a missing policy and for a missing product, API, operation or
// service, and only its message tells them apart; so all read as absent, and a missing
// entity surfaces as a 404 on the write.
func absent(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound && !slices.Contains(containerMissing, re.ErrorCode)
}

// classify maps an SDK error as every ARM backend does (armfault.Classify).
func classify(op, target string, err error, now time.Time, missing string) error {
	return armfault.Classify(op, target, err, now, missing)
}

func retryAfter(resp *http.Response, now time.Time) time.Duration {
	return armfault.RetryAfter(resp, now)
}
