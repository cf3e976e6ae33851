// Command demo writes triage worlds as snapshot folders for `apiguard triage --snapshot`
// to rank without Azure, ARM answered by the SDK fakes:
//
//	demo DIR               the two scenarios, DIR/2026-12 and DIR/2027-01 (make triage-demo)
//	demo -apis N -ops M DIR  one service of N APIs of M operations, DIR/large
//	                         (the offline timing in docs/benchmarks.md)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

func main() {
	apis := flag.Int("apis", 0, "write one synthetic service of this many APIs instead of the scenarios")
	ops := flag.Int("ops", 20, "operations per API of the synthetic service")
	flag.Parse()
	if flag.NArg() != 1 || *apis < 0 || *ops < 1 {
		fmt.Fprintln(os.Stderr, "usage: demo [-apis N [-ops M]] DIR")
		os.Exit(2)
	}
	worlds := map[string]*triagetest.World{}
	if *apis > 0 {
		worlds["large"] = triagetest.Large(*apis, *ops)
	} else {
		for _, w := range []*triagetest.World{triagetest.Scenario(), triagetest.ScenarioNextMonth()} {
			worlds[w.Collected.UTC().Format("2006-01")] = w
		}
	}
	for name, w := range worlds {
		dir := filepath.Join(flag.Arg(0), name)
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
