package decide

import (
	"slices"
	"sort"
	"testing"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/vocab"
)

// checkFindingPlays returns what is wrong between the detectors that exist and the
// playbook's entries for their findings.
func checkFindingPlays(detectors []string, playbook map[string]Play) []string {
	var problems []string
	for _, d := range detectors {
		p, ok := playbook[vocab.AlertType(d)]
		switch {
		case !ok:
			problems = append(problems, "detector "+d+" has no playbook entry "+vocab.AlertType(d))
		case p.Endpoint:
			problems = append(problems, vocab.AlertType(d)+": a finding names its key, never only an endpoint")
		}
	}
	for alertType := range playbook {
		if d, ok := vocab.DetectorOf(alertType); ok && !slices.Contains(detectors, d) {
			problems = append(problems, "playbook entry "+alertType+" names no detector that exists")
		}
	}
	sort.Strings(problems)
	return problems
}

// Every detector that runs has a playbook entry, and every playbook entry for a finding
// names a detector that runs.
func TestEveryDetectorHasAPlay(t *testing.T) {
	for _, p := range checkFindingPlays(detect.Implemented(), builtinPlaybook) {
		t.Error(p)
	}
}

// The check itself fails both ways.
func TestFindingPlayCheckFails(t *testing.T) {
	book := map[string]Play{}
	for k, v := range builtinPlaybook {
		book[k] = v
	}
	delete(book, vocab.AlertType(vocab.DetectorProbing))
	book[vocab.AlertType("teleportation")] = Play{Action: vocab.BlockWAF}
	got := checkFindingPlays(detect.Implemented(), book)
	want := []string{
		"detector probing has no playbook entry apiguard.probing",
		"playbook entry apiguard.teleportation names no detector that exists",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}
