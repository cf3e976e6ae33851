package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/waf"
)

// maxPolicyBytes bounds a policy file read: real policies are tens of KB; 100 rules of
// 600 values stay under 4 MB.
const maxPolicyBytes = 16 << 20

// stringList collects a repeated flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runWAF is `apiguard waf apply|diff`: the reconciler's computation on files, for
// evaluation and output-as-code. apply prints the reconciled policy; diff prints
// what would change.
func runWAF(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "apply" && args[0] != "diff") {
		fmt.Fprintln(stderr, "usage: apiguard waf apply|diff --kind appgw|frontdoor --policy FILE [--block ADDR]... [--block-file FILE] [--prefix P] [--priorities 50-99] [--canary] [--max-values N]")
		return 2
	}
	verb := args[0]
	fl := flag.NewFlagSet("waf "+verb, flag.ContinueOnError)
	fl.SetOutput(stderr)
	kind := fl.String("kind", "", "appgw or frontdoor")
	policy := fl.String("policy", "", "policy JSON file (- for standard input)")
	var blocks, blockFiles stringList
	fl.Var(&blocks, "block", "address or CIDR to block (repeatable)")
	fl.Var(&blockFiles, "block-file", "file with one address or CIDR per line, # comments (repeatable)")
	prefix := fl.String("prefix", "apiguard", "owned rule name prefix")
	priorities := fl.String("priorities", "50-99", "owned priority band first-last")
	canary := fl.Bool("canary", false, "owned rules log instead of block")
	maxValues := fl.Int("max-values", 600, "values per IPMatch condition (540 for Application Gateway with CRS 3.1 and older)")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if *policy == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "apiguard waf: --policy FILE is required, and nothing else")
		return 2
	}
	spec, _ := json.Marshal([]config.WAFTarget{{File: *policy, Kind: *kind, Prefix: *prefix, Priorities: *priorities, Canary: *canary, MaxValues: *maxValues}})
	cfg, err := config.Load(func(k string) (string, bool) {
		if k == "APIGUARD_WAF_TARGETS" {
			return string(spec), true
		}
		return "", false
	})
	if err != nil {
		return configError(stderr, err)
	}
	opts := enforce.WAFOptions(cfg.WAFTargets[0])
	opts.Now = time.Now()

	doc, err := readPolicy(*policy, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard waf:", err)
		return 1
	}
	entries, err := blockEntries(blocks, blockFiles, opts.Now)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard waf:", err)
		return 1
	}
	change, err := waf.Compute(opts, doc, entries)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard waf:", err)
		return 1
	}
	for _, e := range change.Evicted {
		fmt.Fprintf(stderr, "apiguard waf: evicted %s: %s\n", e.Prefix, e.Reason)
	}
	if verb == "apply" {
		// The document as written, byte for byte: its own layout, nothing re-indented,
		// no line break added, so applying no blocks gives back the file itself.
		stdout.Write(change.Doc)
		return 0
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{
		"changed": change.Changed, "added": nonNil(change.Added), "removed": nonNil(change.Removed),
		"evicted": change.Evicted, "rules_before": change.Before, "rules_after": change.After,
	})
	return 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func readPolicy(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPolicyBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPolicyBytes)
	}
	return b, nil
}

// blockEntries reads --block values and block files. Offline blocks are High and do
// not expire, so nothing is evicted for age.
func blockEntries(blocks, files []string, now time.Time) ([]waf.Entry, error) {
	var entries []waf.Entry
	guard := decide.NewGuard(nil)
	add := func(s, where string) error {
		p, err := parseBlock(s)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if why := guard.WhyPrefix(p); why != "" {
			return fmt.Errorf("%s: %s is never blocked: %s", where, p, why)
		}
		entries = append(entries, waf.Entry{Prefix: p, Severity: 3, Expires: now.AddDate(100, 0, 0)})
		return nil
	}
	for _, b := range blocks {
		if err := add(b, "--block"); err != nil {
			return nil, err
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(io.LimitReader(f, 64<<20))
		line := 0
		for sc.Scan() {
			line++
			s := strings.TrimSpace(sc.Text())
			if i := strings.IndexByte(s, '#'); i >= 0 {
				s = strings.TrimSpace(s[:i])
			}
			if s == "" {
				continue
			}
			if err := add(s, fmt.Sprintf("%s:%d", name, line)); err != nil {
				f.Close()
				return nil, err
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return entries, nil
}

func parseBlock(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
