package azure

import (
	"net/http"
	"time"

	"github.com/apiguard/apiguard/shared/enforce/armfault"
)

// classify maps an SDK error as every ARM backend does (armfault.Classify); a missing
// WAF policy is explained, since apiguard never creates one.
func classify(op string, id ResourceID, err error, now time.Time) error {
	return armfault.Classify(op, "WAF policy "+id.Name, err, now,
		"the policy must exist: apiguard never creates WAF policies; check the id and the identity's access")
}

func retryAfter(resp *http.Response, now time.Time) time.Duration {
	return armfault.RetryAfter(resp, now)
}
