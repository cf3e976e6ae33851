package armfault

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(t time.Time) string { return t.Format(http.TimeFormat) }
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"absent", nil, defaultRetryAfter},
		{"seconds", map[string]string{"Retry-After": "17"}, 17 * time.Second},
		{"zero", map[string]string{"Retry-After": "0"}, 0},
		{"milliseconds preferred", map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}, 1500 * time.Millisecond},
		{"x-ms milliseconds", map[string]string{"x-ms-retry-after-ms": "250"}, 250 * time.Millisecond},
		{"http-date against the response's Date", map[string]string{
			"Retry-After": date(now.Add(-time.Hour).Add(30 * time.Second)), "Date": date(now.Add(-time.Hour)),
		}, 30 * time.Second},
		{"http-date against our clock", map[string]string{"Retry-After": date(now.Add(45 * time.Second))}, 45 * time.Second},
		{"http-date in the past", map[string]string{"Retry-After": date(now.Add(-time.Minute))}, 0},
		{"capped", map[string]string{"Retry-After": "86400"}, maxRetryAfter},
		{"capped milliseconds", map[string]string{"Retry-After-Ms": "99999999999999"}, maxRetryAfter},
		{"garbage", map[string]string{"Retry-After": "soon"}, defaultRetryAfter},
		{"negative", map[string]string{"Retry-After": "-5"}, defaultRetryAfter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			for k, v := range c.header {
				resp.Header.Set(k, v)
			}
			if got := RetryAfter(resp, now); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	if got := RetryAfter(nil, now); got != defaultRetryAfter {
		t.Fatalf("no response: %s", got)
	}
}

func TestClientOptionsLeave429ToTheCaller(t *testing.T) {
	got := ClientOptions(nil)
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
	got = ClientOptions(mine)
	if got.Retry.MaxRetries != 7 || mine.Retry.StatusCodes != nil {
		t.Fatalf("caller's options not kept or mutated: %+v / %+v", got.Retry, mine.Retry)
	}
	mine.Retry.StatusCodes = []int{429}
	got = ClientOptions(mine)
	if !slices.Equal(got.Retry.StatusCodes, []int{429}) {
		t.Fatalf("caller's status codes replaced: %v", got.Retry.StatusCodes)
	}
}
