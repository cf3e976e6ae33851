package detect_test

import (
	"testing"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/detect/detecttest"
)

func TestMemoryStoreConformance(t *testing.T) {
	detecttest.TestStore(t, func(*testing.T) detect.Store { return detect.NewMemoryStore(1000, 0) })
}

// With a hot set of one, every state but the last one updated is kept encoded between
// updates: the contract holds through the codec too.
func TestMemoryStoreConformanceCold(t *testing.T) {
	detecttest.TestStore(t, func(*testing.T) detect.Store { return detect.NewMemoryStoreHot(1000, 0, 1) })
}
