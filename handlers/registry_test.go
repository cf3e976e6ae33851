package handlers

import (
	"os"
	"sort"
	"testing"
)

// Every function folder has a handler of the right kind, and every handler a folder.
func TestRegistryMatchesFunctionFolders(t *testing.T) {
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) == 0 {
		t.Fatal("no function.json found under ../functions")
	}
	for name, d := range defs {
		fn, ok := Functions[name]
		if !ok {
			t.Errorf("functions/%s has no handler in Functions", name)
			continue
		}
		if fn.Trigger != d.Trigger || fn.Binding != d.Binding {
			t.Errorf("functions/%s: function.json has %s %q, handler expects %s %q", name, d.Trigger, d.Binding, fn.Trigger, fn.Binding)
		}
		if (fn.HTTP != nil) != (d.Trigger == "httpTrigger") || (fn.Timer != nil) != (d.Trigger == "timerTrigger") ||
			(fn.Queue != nil) != (d.Trigger == "serviceBusTrigger") || (fn.Events != nil) != (d.Trigger == "eventHubTrigger") {
			t.Errorf("functions/%s: handler kind does not match trigger %s", name, d.Trigger)
		}
	}
	var missing []string
	for name := range Functions {
		if _, ok := defs[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("handlers without a functions/<name>/function.json: %v", missing)
	}
}

func TestFunctionDefs(t *testing.T) {
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		t.Fatal(err)
	}
	a := defs["alerts"]
	if a.Route != "alerts" || a.AuthLevel != "function" || len(a.Methods) != 2 || a.Methods[0] != "OPTIONS" || a.Methods[1] != "POST" {
		t.Errorf("alerts: %+v", a)
	}
	if e := defs["expire"]; e.Schedule != "0 */5 * * * *" {
		t.Errorf("expire schedule %q", e.Schedule)
	}
}
