package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/apiguard/apiguard/"

// deps lists the packages of this module that pkgs import, directly or not.
func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", pkgs, err)
	}
	var mine []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) {
			mine = append(mine, strings.TrimPrefix(p, module))
		}
	}
	return mine
}

// The data flow's layering, checked on the import graph: handlers decode and encode and
// leave the pipeline to the application layer, nothing in shared/ calls back into
// handlers, and the two enforcement planes share address arithmetic instead of
// depending on each other.
func TestLayering(t *testing.T) {
	for _, c := range []struct {
		from      string
		forbidden []string
	}{
		{"./handlers", []string{"shared/traffic", "shared/detect", "shared/decide", "shared/record", "shared/enforce", "shared/flow", "shared/control"}},
		{"./shared/...", []string{"handlers"}},
		{"./shared/apim/...", []string{"shared/waf"}},
		{"./shared/waf/...", []string{"shared/apim"}},
		// Ranking and rendering are pure: they read an inventory, not Azure or the store.
		{"./shared/triage", []string{"shared/triage/collect", "shared/record", "shared/flow"}},
		{"./shared/triage/report", []string{"shared/triage/collect", "shared/record", "shared/flow"}},
		// The test worlds and fakes stay out of the binary that ships.
		{".", []string{"shared/cidr/cidrtest", "shared/detect/detecttest", "shared/enforce/azure/armfake",
			"shared/enforce/azureapim/apimfake", "shared/enforce/backendtest", "shared/enforce/fakearm",
			"shared/record/azuritetest", "shared/record/recordtest", "shared/triage/triagetest", "shared/pagetest"}},
	} {
		for _, p := range deps(t, c.from) {
			for _, f := range c.forbidden {
				if p == f || strings.HasPrefix(p, f+"/") {
					t.Errorf("%s depends on %s", c.from, p)
				}
			}
		}
	}
	// The vocabulary is a leaf: every package may use it.
	if got := deps(t, "./shared/vocab"); !slices.Equal(got, []string{"shared/vocab"}) {
		t.Errorf("shared/vocab depends on %v", got)
	}
}
