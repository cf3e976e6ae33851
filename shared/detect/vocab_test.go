package detect

import (
	"slices"
	"testing"

	"github.com/apiguard/apiguard/shared/vocab"
)

// The detectors this package runs are exactly the vocabulary's, in its order: a
// detector added here without a name there (and so without a playbook entry, see
// decide's test) fails.
func TestImplementedDetectorsAreTheVocabulary(t *testing.T) {
	if got, want := Implemented(), vocab.Detectors(); !slices.Equal(got, want) {
		t.Errorf("detectors implemented %v, vocabulary %v", got, want)
	}
}
