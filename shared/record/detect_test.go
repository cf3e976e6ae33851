package record

import (
	"testing"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/detect/detecttest"
)

// The Table Storage store passes the same conformance suite as the in-memory one:
// counts add up across batches and concurrent updaters, a batch applied twice counts
// once, every key comes back.
func TestDetectStatesConformance(t *testing.T) {
	detecttest.TestStore(t, func(t *testing.T) detect.Store {
		return newStore(t).DetectStates()
	})
}
