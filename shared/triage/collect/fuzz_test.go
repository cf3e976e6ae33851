package collect_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

// A snapshot folder is input from outside (hand-built, redacted, or hostile): any one
// of its files replaced by arbitrary bytes gives an inventory or an error, never a
// panic or a hang; a broken apiguard/last-seen.json is refused as the caller's fault.
func FuzzSnapshot(f *testing.F) {
	base := filepath.Join(f.TempDir(), "base")
	w := triagetest.Scenario()
	if _, err := collect.TakeSnapshot(context.Background(), w.Options(), base); err != nil {
		f.Fatal(err)
	}
	var files []string
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(base, p)
			files = append(files, rel)
		}
		return nil
	})
	slices.Sort(files)
	for i, name := range files {
		body, _ := os.ReadFile(filepath.Join(base, name))
		f.Add(uint8(i), body)
		if base := filepath.Base(name); len(body) > 40 && (base == "apis.json" || base == "last-seen.json" || base == "errors.json") {
			f.Add(uint8(i), body[:len(body)/2])
		}
	}
	f.Add(uint8(0), []byte(`{"value":[{"id":null,"name":7,"properties":{"path":["x"]}}],"nextLink":"https://evil.example/x"}`))
	f.Add(uint8(0), []byte(`{"collected":"2026-12-01T06:00:00Z","scopes":["/subscriptions/x/../../y"],"apis":{"":"bad"}}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		dir := t.TempDir()
		name := files[int(which)%len(files)]
		for _, n := range files {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755)
			if n != name { // the others shared with the base folder, unchanged
				os.Link(filepath.Join(base, n), filepath.Join(dir, n))
			}
		}
		os.WriteFile(filepath.Join(dir, name), body, 0o644)

		opts, err := collect.SnapshotOptions(dir)
		if err != nil {
			if name != filepath.FromSlash(collect.SeenFileName) {
				t.Fatalf("%s replaced, yet the snapshot's own file is refused: %v", name, err)
			}
			if fault.Of(err) != fault.Of(fault.Rejected(400, err)) {
				t.Fatalf("a broken %s is not the caller's fault: %v", name, err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		inv, err := collect.Collect(ctx, opts)
		if ctx.Err() != nil {
			t.Fatalf("%s replaced: the run did not finish: %v", name, err)
		}
		if err == nil && inv.Collected.IsZero() {
			t.Fatalf("%s replaced: an inventory with no collected time", name)
		}
	})
}
