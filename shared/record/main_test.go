package record

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// testClientOptions keep the SDK's retries short, so a dead emulator fails the
// run in seconds instead of minutes of backoff.
func testClientOptions() *aztables.ClientOptions {
	return &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{
		MaxRetries: 2, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond, TryTimeout: 30 * time.Second,
	}}}
}

// newStore returns a Store on the shared Azurite with tables of its own.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(Options{ConnectionString: azuritetest.ConnectionString(t), TablePrefix: azuritetest.TablePrefix(t), ClientOptions: testClientOptions()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
