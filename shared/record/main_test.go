package record

import (
	"context"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// newStore returns a Store on the shared Azurite with tables of its own.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(Options{ConnectionString: azuritetest.ConnectionString(t), TablePrefix: azuritetest.TablePrefix(t)})
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
