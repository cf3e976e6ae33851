package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// azureYAML is the part of azd's azure.yaml schema apiguard uses.
type azureYAML struct {
	Name  string `yaml:"name"`
	Infra struct {
		Provider string `yaml:"provider"`
		Path     string `yaml:"path"`
		Module   string `yaml:"module"`
	} `yaml:"infra"`
	Services map[string]struct {
		Project      string `yaml:"project"`
		Language     string `yaml:"language"`
		Host         string `yaml:"host"`
		Dist         string `yaml:"dist"`
		ResourceName string `yaml:"resourceName"`
		Hooks        map[string]map[string]struct {
			Shell string `yaml:"shell"`
			Run   string `yaml:"run"`
		} `yaml:"hooks"`
	} `yaml:"services"`
}

// azure.yaml parses, and every name in it points at something in the repo: the Bicep
// module, the project folder, the folder `make package` unpacks into (azd zips it), an
// output of main.bicep for the app's name, and a prepackage hook that runs `make package`.
// Nothing here runs against Azure.
func TestAzureYAML(t *testing.T) {
	raw, err := os.ReadFile("azure.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var y azureYAML
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&y); err != nil {
		t.Fatalf("azure.yaml: %v", err)
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(y.Name) {
		t.Errorf("name %q: azd allows lowercase letters, digits and hyphens", y.Name)
	}
	if y.Infra.Provider != "bicep" {
		t.Errorf("infra.provider %q, want bicep", y.Infra.Provider)
	}
	bicep, err := os.ReadFile(filepath.Join(y.Infra.Path, y.Infra.Module+".bicep"))
	if err != nil {
		t.Fatalf("infra module: %v", err)
	}
	outputs := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^output\s+(\w+)\s`).FindAllSubmatch(bicep, -1) {
		outputs[string(m[1])] = true
	}
	mk := makefile(t)
	if len(y.Services) != 1 {
		t.Fatalf("services %v: want the one function app", y.Services)
	}
	for name, s := range y.Services {
		if s.Host != "function" || s.Language != "custom" {
			t.Errorf("%s: host %q language %q, want a function app with a custom handler", name, s.Host, s.Language)
		}
		if fi, err := os.Stat(s.Project); err != nil || !fi.IsDir() {
			t.Errorf("%s: project %q is not a folder", name, s.Project)
		}
		if s.Dist != mk.vars["PACKAGE_DIR"] {
			t.Errorf("%s: dist %q, but make package unpacks into %q", name, s.Dist, mk.vars["PACKAGE_DIR"])
		}
		m := regexp.MustCompile(`^\$\{(\w+)\}$`).FindStringSubmatch(s.ResourceName)
		if m == nil || !outputs[m[1]] {
			t.Errorf("%s: resourceName %q is not ${OUTPUT} of an output of main.bicep %v", name, s.ResourceName, outputs)
		}
		hook := s.Hooks["prepackage"]
		if len(hook) == 0 {
			t.Errorf("%s: no prepackage hook builds the package", name)
		}
		for osName, h := range hook {
			if h.Shell == "" || !strings.Contains(h.Run, "make package") {
				t.Errorf("%s: prepackage on %s runs %q with shell %q, want make package", name, osName, h.Run, h.Shell)
			}
		}
	}
	if _, ok := mk.rules["package"]; !ok {
		t.Error("the Makefile has no package target")
	}
	if !strings.Contains(mk.recipes["deploy"], "azd up") {
		t.Errorf("make deploy runs %q, want azd up", mk.recipes["deploy"])
	}
}

// make test never reaches make deploy, nor any recipe that calls azd or az: the
// suite runs on machines without Azure.
func TestMakeTestDoesNotDeploy(t *testing.T) {
	mk := makefile(t)
	seen := map[string]bool{}
	var walk func(string)
	walk = func(target string) {
		if seen[target] {
			return
		}
		seen[target] = true
		for _, p := range mk.rules[target] {
			walk(p)
		}
	}
	walk("test")
	if !seen["unit"] || !seen["lint"] {
		t.Fatalf("make test reaches %v: the rule graph was not read", seen)
	}
	azCall := regexp.MustCompile(`(^|[\s;&|(])(azd|az)\s`)
	for target := range seen {
		if target == "deploy" {
			t.Error("make test reaches deploy")
		}
		if azCall.MatchString(mk.recipes[target]) {
			t.Errorf("make test reaches %s, whose recipe calls Azure: %q", target, mk.recipes[target])
		}
	}
	if !azCall.MatchString(mk.recipes["deploy"]) {
		t.Error("the check does not see azd in make deploy's recipe")
	}
}

// makeRules is what the tests read from the Makefile: simple variables, each rule's
// prerequisites and its recipe text.
type makeRules struct {
	vars    map[string]string
	rules   map[string][]string
	recipes map[string]string
}

func makefile(t *testing.T) makeRules {
	t.Helper()
	raw, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := makeRules{vars: map[string]string{}, rules: map[string][]string{}, recipes: map[string]string{}}
	varLine := regexp.MustCompile(`^([A-Z_]+)\s*[?:]?=\s*(.*)$`)
	ruleLine := regexp.MustCompile(`^([A-Za-z0-9_.$()/-]+):([^=].*)?$`)
	current := ""
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "\t"):
			if current != "" {
				mk.recipes[current] += line[1:] + "\n"
			}
		case varLine.MatchString(line):
			m := varLine.FindStringSubmatch(line)
			mk.vars[m[1]] = strings.TrimSpace(m[2])
			current = ""
		case ruleLine.MatchString(line):
			m := ruleLine.FindStringSubmatch(line)
			current = m[1]
			mk.rules[current] = strings.Fields(m[2])
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			current = ""
		}
	}
	return mk
}
