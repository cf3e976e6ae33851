// Command demo writes the two triage scenarios (this month and the next) as snapshot
// folders, DIR/<month>, for `apiguard triage --snapshot` to rank without Azure: what
// `make triage-demo` runs so that a newcomer can try the monthly triage locally.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demo DIR")
		os.Exit(2)
	}
	for _, w := range []*triagetest.World{triagetest.Scenario(), triagetest.ScenarioNextMonth()} {
		dir := filepath.Join(os.Args[1], w.Collected.UTC().Format("2006-01"))
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		stats, err := collect.TakeSnapshot(context.Background(), w.Options(), dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d ARM reads answered by the SDK fakes\n", dir, stats.Calls)
	}
}
