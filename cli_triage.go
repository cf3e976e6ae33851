package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/apiguard/apiguard/shared/control"
)

// triageShow prints a stored report: the Markdown summary at a terminal, the JSON
// document with -o json, or any format with --format (html to a file).
var triageShow = subcommand{
	synopsis: "latest|YYYY-MM [--format md|json|html]",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		format := fl.String("format", "", "md (default at a terminal), json (default with -o json) or html")
		return func(c *client, args []string) error {
			f := *format
			if f == "" {
				f = "md"
				if c.json {
					f = "json"
				}
			}
			if f != "md" && f != "json" && f != "html" {
				return usagef("--format %q is not md, json or html", f)
			}
			month := args[0]
			if month != "latest" && !isMonth(month) {
				return usagef("%q is not latest or a month as YYYY-MM", month)
			}
			raw, err := c.call(http.MethodGet, "/triage/"+seg(month), url.Values{"format": {f}}, nil, nil)
			if err != nil {
				return err
			}
			if f == "md" {
				raw = []byte(terminalText(string(raw)))
			}
			_, err = c.stdout.Write(raw)
			return err
		}
	},
}

// triageRun runs the triage now and says where its report is.
var triageRun = subcommand{
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		return func(c *client, _ []string) error {
			var r control.TriageRun
			raw, err := c.call(http.MethodPost, "/triage/run", nil, nil, &r)
			if err != nil {
				return err
			}
			return c.done(raw, fmt.Sprintf("triage of %s: %s (apiguard triage show %s)", r.Month, r.Summary, r.Month))
		}
	},
}

func isMonth(s string) bool {
	return len(s) == 7 && s[4] == '-' && strings.IndexFunc(s[:4]+s[5:], func(r rune) bool { return r < '0' || r > '9' }) < 0 &&
		s[5:] >= "01" && s[5:] <= "12"
}

// terminalText keeps line breaks and tabs of a multi-line text and replaces other
// control characters, so a name in a report cannot drive the terminal.
func terminalText(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
