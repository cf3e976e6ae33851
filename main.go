// Command apiguard is the apiguard function app: the Functions custom handler when
// FUNCTIONS_CUSTOMHANDLER_PORT is set, a standalone server with `serve`, and offline
// tools on files (`plan`, `package`).
package main

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// app holds host.json and the function folders, so the binary serves exactly the
// functions it is packaged with and can package itself.
//
//go:embed host.json functions
var app embed.FS

const usage = `apiguard: Defender for APIs alerts in, graded and recorded block decisions out.

Usage:
  apiguard                     run as the Azure Functions custom handler (FUNCTIONS_CUSTOMHANDLER_PORT set)
  apiguard serve [--addr A] [--settings FILE]
                               run standalone: the same functions under /api/, timers in-process
  apiguard plan [--settings FILE] [FILE|-]
                               decide one alert file as the server would on a fresh deployment
                               (in memory) and print what alerts answers, as JSON
  apiguard replay [--format F] [--config FILE] [--trusted-proxies CIDRS] [--decide [--settings FILE]] FILE...
                               run the traffic detectors over log files on event time and print
                               findings as JSON lines (with --decide, the server's decisions too)
  apiguard waf apply|diff --kind appgw|frontdoor --policy FILE [--block ADDR]... [--block-file FILE]
                               print the policy with apiguard's owned rules for these blocks (apply),
                               or what would change (diff)
  apiguard apim include --policy FILE [--fragment-id ID] [--remove]
                               print the APIM policy with apiguard's include-fragment inserted (or removed)
  apiguard apim fragment [--block ADDR]... [--block-file FILE] [--forwarded ADDR]... [--throttle SPEC]...
                               print the policy fragment apiguard would write for these blocks and throttles
  apiguard triage snapshot --out DIR [--settings FILE]
                               read the API inventory from Azure into a snapshot folder
  apiguard triage --snapshot DIR [--previous FILE] [--format json|md|html] [--out FILE]
                               rank a snapshot offline, as the monthly triage does
  apiguard triage show latest|YYYY-MM [--format md|json|html] | triage run  [--url URL] [--key KEY]
                               the stored monthly reports, and a run now, through the control API
  apiguard package --binary B --out ZIP [--dir DIR]
                               write the Flex Consumption deployment zip (and unpack it into DIR)
  apiguard blocks|decisions|allow|audit|health ... [--url URL] [--key KEY] [-o table|json]
                               the control API from a terminal: blocks list|add|rm|extend,
                               decisions list|approve|reject|revert, allow list|add|rm, audit,
                               health (exit 1 when unhealthy); "apiguard blocks -h" for the rest
  apiguard version

Settings come from the environment (see README.md); serve and plan fill in the rest from
local.settings.json, else local.settings.sample.json, in the working directory.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		if port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"); port != "" {
			return runHost(port, stderr)
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stderr)
	case "plan":
		return runPlan(args[1:], stdin, stdout, stderr)
	case "replay":
		return runReplay(args[1:], stdin, stdout, stderr)
	case "waf":
		return runWAF(args[1:], stdin, stdout, stderr)
	case "apim":
		return runAPIM(args[1:], stdin, stdout, stderr)
	case "triage":
		return runTriage(args[1:], stdout, stderr)
	case "package":
		return runPackage(args[1:], stdout, stderr)
	case "blocks", "decisions", "allow", "audit", "health":
		return runClient(args, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "apiguard", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "apiguard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func functionsFS() fs.FS {
	sub, err := fs.Sub(app, "functions")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// configError prints a settings problem in full and returns the exit code for it.
func configError(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "apiguard:", strings.TrimSpace(err.Error()))
	return 2
}
