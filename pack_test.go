package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"testing"
	"testing/fstest"
)

// `make package` as a user runs it, twice into different folders: the zip holds the
// app root the Flex host needs (host.json, every folder of functions/ with its
// function.json, the static linux/amd64 binary as "apiguard" with mode 0755), nothing
// else, and two builds give the same bytes. The unpacked folder azd deploys holds the
// same files with the same modes.
func TestMakePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the linux/amd64 binary twice; skipped with -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tmp := t.TempDir()
	build := func(name string) (zipPath, linuxBin, dir string) {
		t.Helper()
		zipPath = filepath.Join(tmp, name+".zip")
		linuxBin = filepath.Join(tmp, name, "linux", "apiguard")
		dir = filepath.Join(tmp, name, "app")
		cmd := exec.Command("make", "-s", "package",
			"BIN="+filepath.Join(tmp, name, "host", "apiguard"), "LINUX_BIN="+linuxBin,
			"PACKAGE="+zipPath, "PACKAGE_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make package: %v\n%s", err, out)
		}
		return zipPath, linuxBin, dir
	}
	zipA, binA, dirA := build("a")
	zipB, _, _ := build("b")
	a, err := os.ReadFile(zipA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(zipB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same tree give different zips (%d and %d bytes)", len(a), len(b))
	}

	want := map[string][]byte{}
	raw, err := os.ReadFile("host.json")
	if err != nil {
		t.Fatal(err)
	}
	want["host.json"] = raw
	dirs, err := os.ReadDir("functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join("functions", d.Name(), "function.json"))
		if err != nil {
			t.Fatalf("functions/%s has no function.json: %v", d.Name(), err)
		}
		want[d.Name()+"/function.json"] = raw
	}
	binary, err := os.ReadFile(binA)
	if err != nil {
		t.Fatal(err)
	}
	want["apiguard"] = binary

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if path.Base(f.Name) == "local.settings.json" {
			t.Errorf("%s ships in the package", f.Name)
		}
		if !f.Modified.Equal(zipEpoch) {
			t.Errorf("%s: modified %v, want the fixed %v", f.Name, f.Modified, zipEpoch)
		}
		wantMode := os.FileMode(0o644)
		if f.Name == "apiguard" {
			wantMode = 0o755
		}
		if f.Mode() != wantMode {
			t.Errorf("%s: mode %v, want %v", f.Name, f.Mode(), wantMode)
		}
		content, ok := want[f.Name]
		if !ok {
			t.Errorf("%s ships but is not part of the app", f.Name)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), content) {
			t.Errorf("%s: packaged bytes differ from the source", f.Name)
		}
		unpacked, err := os.Stat(filepath.Join(dirA, filepath.FromSlash(f.Name)))
		if err != nil || unpacked.Mode().Perm() != wantMode || unpacked.Size() != int64(len(content)) {
			t.Errorf("unpacked %s: %v (want mode %v, %d bytes)", f.Name, unpacked, wantMode, len(content))
		}
	}
	if len(names) != len(want) {
		t.Errorf("zip holds %d entries %v, want %d", len(names), names, len(want))
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries are not in sorted order: %v", names)
	}

	// The binary runs on the Flex workers: ELF, x86-64, and static (no interpreter:
	// CGO_ENABLED=0), so it does not depend on the image's libc.
	ef, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("the packaged apiguard is not ELF: %v", err)
	}
	if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 {
		t.Errorf("the packaged apiguard is %v %v, want x86-64", ef.Machine, ef.Class)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the packaged apiguard is dynamically linked (PT_INTERP present)")
		}
	}
}

// Only host.json, the function.json files and the binary ship: local settings (at the
// root or inside a function folder) and anything else in the tree stay out.
func TestPackageLeavesOutEverythingElse(t *testing.T) {
	tree := fstest.MapFS{
		"host.json":                      {Data: []byte(`{"version":"2.0"}`)},
		"local.settings.json":            {Data: []byte(`{"Values":{"APIGUARD_API_KEY":"secret"}}`)},
		"functions/alerts/function.json": {Data: []byte(`{"bindings":[]}`)},
		"functions/alerts/local.settings.json": {
			Data: []byte(`{}`),
		},
		"functions/alerts/notes.md":      {Data: []byte("x")},
		"functions/expire/function.json": {Data: []byte(`{"bindings":[]}`)},
		"functions/empty/README":         {Data: []byte("no function.json")},
	}
	var buf bytes.Buffer
	if err := writeZip(&buf, tree, []byte("bin")); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range zr.File {
		got = append(got, f.Name)
	}
	want := []string{"alerts/function.json", "apiguard", "expire/function.json", "host.json"}
	if len(got) != len(want) {
		t.Fatalf("zip holds %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	// A tree without a function is refused rather than packaged as an app that does nothing.
	if err := writeZip(&buf, fstest.MapFS{"host.json": {Data: []byte(`{}`)}}, nil); err == nil {
		t.Error("a tree without functions packaged")
	}
}
