package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/apim/fragment"
	"github.com/apiguard/apiguard/shared/apim/include"
	"github.com/apiguard/apiguard/shared/decide"
)

const (
	// defaultFragmentID is the policy fragment apiguard owns in an APIM instance.
	defaultFragmentID = "apiguard-enforce"
	// apimSeverity and apimTTL are what every offline block and throttle gets: Medium,
	// a day from now. They only matter for eviction order; the rendered text has no expiry.
	apimSeverity = 2
	apimTTL      = 24 * time.Hour
)

const apimUsage = `usage: apiguard apim include --policy FILE [--fragment-id ID] [--remove]
       apiguard apim fragment [--block ADDR]... [--block-file FILE] [--forwarded ADDR]... [--throttle SPEC]...
              [--calls N] [--period S] [--tier T] [--consumption-throttle skip|block]
              [--forwarded-header H] [--trusted-hops N] [--max-bytes N]`

// runAPIM is `apiguard apim include|fragment`: the two halves of APIM enforcement on
// files, for evaluation and output-as-code. include prints a policy with apiguard's
// include-fragment inserted (or removed); fragment prints the fragment apiguard would
// write for these blocks and throttles.
func runAPIM(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "include":
			return runAPIMInclude(args[1:], stdin, stdout, stderr)
		case "fragment":
			return runAPIMFragment(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, apimUsage)
	return 2
}

// runAPIMInclude prints the policy with the include inserted or removed, byte for byte
// as the include package leaves it, and says on stderr what happened.
func runAPIMInclude(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("apim include", flag.ContinueOnError)
	fl.SetOutput(stderr)
	policy := fl.String("policy", "", "APIM policy XML file (- for standard input)")
	id := fl.String("fragment-id", defaultFragmentID, "policy fragment to include")
	remove := fl.Bool("remove", false, "take the include out instead of putting it in")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *policy == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "apiguard apim include: --policy FILE is required, and nothing else")
		return 2
	}
	if err := include.ValidFragmentID(*id); err != nil {
		fmt.Fprintln(stderr, "apiguard apim include: --fragment-id:", err)
		return 2
	}
	doc, err := readPolicy(*policy, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard apim include:", err)
		return 1
	}
	edit := include.Insert
	if *remove {
		edit = include.Remove
	}
	out, changed, err := edit(doc, *id)
	if err != nil {
		// Refused: nothing on stdout, so a redirect writes nothing half-way.
		fmt.Fprintf(stderr, "apiguard apim include: %s: %v\n", *policy, err)
		return 1
	}
	stdout.Write(out)
	switch {
	case !*remove && changed:
		fmt.Fprintf(stderr, "apiguard apim include: inserted include-fragment %s\n", *id)
	case !*remove:
		fmt.Fprintf(stderr, "apiguard apim include: include-fragment %s already present: unchanged\n", *id)
	case changed:
		fmt.Fprintf(stderr, "apiguard apim include: removed include-fragment %s\n", *id)
	default:
		fmt.Fprintf(stderr, "apiguard apim include: include-fragment %s not present: unchanged\n", *id)
	}
	return 0
}

// runAPIMFragment prints the rendered fragment on stdout and a summary on stderr.
func runAPIMFragment(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("apim fragment", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var blocks, blockFiles, forwarded, throttles stringList
	fl.Var(&blocks, "block", "address or CIDR to block (repeatable)")
	fl.Var(&blockFiles, "block-file", "file with one address or CIDR per line, # comments (repeatable)")
	fl.Var(&forwarded, "forwarded", "address or CIDR learnt from the trusted forwarded header: blocked, and checked on that header (repeatable)")
	fl.Var(&throttles, "throttle", "ip:ADDR, subscription:ID or claim:NAME=VALUE, each optionally @API; or each-ip@API, each-subscription@API, each-claim:NAME@API (repeatable). "+
		"The text after the last @ is the API: end a value that holds @ with a lone @ to apply it everywhere")
	calls := fl.Int("calls", 60, "calls allowed per period, for every --throttle")
	period := fl.Int("period", 60, "renewal period in seconds (1..300), for every --throttle")
	tier := fl.String("tier", "", "APIM tier: developer, basic, standard, premium, consumption, basicv2, standardv2, premiumv2, isolated")
	consumption := fl.String("consumption-throttle", fragment.ConsumptionSkip, "on consumption: skip throttles, or block ip throttles")
	header := fl.String("forwarded-header", fragment.DefaultForwardedHeader, "header a trusted proxy puts the client address in")
	hops := fl.Int("trusted-hops", fragment.DefaultTrustedHops, "trusted proxies appending to X-Forwarded-For (1..16)")
	maxBytes := fl.Int("max-bytes", fragment.DefaultMaxBytes, "fragment size limit in bytes")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "apiguard apim fragment: unexpected argument %q: blocks and throttles are given with flags\n", fl.Arg(0))
		return 2
	}
	opts := fragment.Options{MaxBytes: *maxBytes, ForwardedHeader: *header, TrustedHops: *hops,
		Tier: *tier, ConsumptionThrottle: *consumption}
	var bad []string
	// Zero is "the default" to Options; on the command line it is a mistake.
	if *maxBytes == 0 {
		bad = append(bad, fmt.Sprintf("--max-bytes 0: must be 1..%d", fragment.DefaultMaxBytes))
	}
	if *hops == 0 {
		bad = append(bad, "--trusted-hops 0: must be at least 1")
	}
	if *header == "" {
		bad = append(bad, "--forwarded-header is empty")
	}
	if *calls < 1 {
		bad = append(bad, fmt.Sprintf("--calls %d: must be at least 1", *calls))
	}
	if *period < 1 || *period > 300 {
		bad = append(bad, fmt.Sprintf("--period %d: must be 1..300 seconds", *period))
	}
	if err := opts.Validate(); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "apiguard apim fragment:", b)
		}
		return 2
	}

	now := time.Now()
	opts.Now = now
	expires := now.Add(apimTTL)
	fb, err := fragmentBlocks(blocks, blockFiles, forwarded, now, expires)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard apim fragment:", err)
		return 1
	}
	ths, err := fragmentThrottles(throttles, *calls, *period, expires)
	if err != nil {
		fmt.Fprintln(stderr, "apiguard apim fragment:", err)
		return 1
	}
	res, err := fragment.Render(fb, ths, opts)
	if err != nil { // only invalid options, checked above
		fmt.Fprintln(stderr, "apiguard apim fragment:", err)
		return 2
	}
	stdout.Write(res.XML)
	fmt.Fprintf(stderr, "apiguard apim fragment: %d bytes of %d: %d blocks, %d forwarded, %d throttles",
		res.Size, *maxBytes, res.Blocks, res.Forwarded, res.Throttles)
	if res.Expired > 0 {
		fmt.Fprintf(stderr, ", %d expired", res.Expired)
	}
	fmt.Fprintln(stderr)
	for _, e := range res.Evicted {
		fmt.Fprintf(stderr, "apiguard apim fragment: evicted %s (severity %d): %s\n", e.What, e.Severity, e.Reason)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "apiguard apim fragment: skipped %s: %s\n", s.What, s.Reason)
	}
	return 0
}

// fragmentBlocks reads --block, --block-file and --forwarded, refusing protected
// addresses as `waf apply` does (built-in ranges, no allow-list).
func fragmentBlocks(blocks, files, forwarded []string, now, expires time.Time) ([]fragment.Block, error) {
	entries, err := blockEntries(blocks, files, now)
	if err != nil {
		return nil, err
	}
	out := make([]fragment.Block, 0, len(entries)+len(forwarded))
	for _, e := range entries {
		out = append(out, fragment.Block{Prefix: e.Prefix, Severity: apimSeverity, Expires: expires})
	}
	guard := decide.NewGuard(nil)
	for _, s := range forwarded {
		p, err := parseBlock(s)
		if err != nil {
			return nil, fmt.Errorf("--forwarded: %w", err)
		}
		if why := guard.WhyPrefix(p); why != "" {
			return nil, fmt.Errorf("--forwarded: %s is never blocked: %s", p, why)
		}
		out = append(out, fragment.Block{Prefix: p, Severity: apimSeverity, Expires: expires, Forwarded: true})
	}
	return out, nil
}

// fragmentThrottles parses every --throttle. An ip throttle on a protected address is
// refused like a block of it: the service's decide engine never throttles one either, on
// Consumption with --consumption-throttle block it would become a block, and a private
// address is most likely the proxy every request comes through.
func fragmentThrottles(specs []string, calls, period int, expires time.Time) ([]fragment.Throttle, error) {
	guard := decide.NewGuard(nil)
	out := make([]fragment.Throttle, 0, len(specs))
	for _, spec := range specs {
		t, err := parseThrottle(spec)
		if err != nil {
			return nil, fmt.Errorf("--throttle %q: %w", spec, err)
		}
		if t.Key == fragment.KeyIP && t.Value != "" {
			if why := guard.Why(netip.MustParseAddr(t.Value)); why != "" {
				return nil, fmt.Errorf("--throttle %q: %s is never throttled: %s", spec, t.Value, why)
			}
		}
		t.Calls, t.Period, t.Severity, t.Expires = calls, period, apimSeverity, expires
		out = append(out, t)
	}
	return out, nil
}

// parseThrottle reads a throttle SPEC into its key, value, claim and API; calls, period,
// severity and expiry are the caller's.
//
//	ip:ADDR[@API]  subscription:ID[@API]  claim:NAME=VALUE[@API]
//	each-ip@API    each-subscription@API  each-claim:NAME@API
//
// The text after the last "@" is the API id, so a value that holds "@" (an e-mail
// claim) needs an API after it, or a lone trailing "@" for none. The each- forms throttle
// every client of one API separately: Value "" with API set.
func parseThrottle(spec string) (fragment.Throttle, error) {
	body, api := spec, ""
	at := strings.LastIndexByte(spec, '@')
	if at >= 0 {
		body, api = spec[:at], spec[at+1:]
	}
	kind, rest, hasRest := strings.Cut(body, ":")
	var t fragment.Throttle
	switch kind {
	case "ip":
		if rest == "" {
			return t, errors.New("ip:ADDR needs an address")
		}
		a, err := netip.ParseAddr(rest)
		if err != nil || a.Zone() != "" {
			return t, fmt.Errorf("%q is not an IP address", rest)
		}
		t = fragment.Throttle{Key: fragment.KeyIP, Value: a.Unmap().String()}
	case "subscription":
		if rest == "" {
			return t, errors.New("subscription:ID needs a subscription id")
		}
		t = fragment.Throttle{Key: fragment.KeySubscription, Value: rest}
	case "claim":
		name, value, ok := strings.Cut(rest, "=")
		switch {
		case !ok:
			return t, errors.New("claim:NAME=VALUE needs '=' between the claim name and its value")
		case name == "":
			return t, errors.New("claim:NAME=VALUE needs a claim name")
		case value == "":
			return t, fmt.Errorf("claim %s needs a value (each-claim:%s@API throttles every value separately)", name, name)
		}
		t = fragment.Throttle{Key: fragment.KeyClaim, Claim: name, Value: value}
	case "each-ip", "each-subscription":
		if hasRest {
			return t, fmt.Errorf("%s takes no value: %s@API", kind, kind)
		}
		t.Key = fragment.KeyIP
		if kind == "each-subscription" {
			t.Key = fragment.KeySubscription
		}
	case "each-claim":
		switch {
		case rest == "":
			return t, errors.New("each-claim:NAME@API needs a claim name")
		case strings.Contains(rest, "="):
			return t, fmt.Errorf("each-claim takes a claim name, not a value: use claim:%s for one client", rest)
		}
		t = fragment.Throttle{Key: fragment.KeyClaim, Claim: rest}
	case "":
		return t, errors.New("no key: want ip:, subscription:, claim:, each-ip, each-subscription or each-claim:")
	default:
		return t, fmt.Errorf("unknown key %q: want ip, subscription, claim, each-ip, each-subscription or each-claim", kind)
	}
	if t.Value == "" && api == "" {
		if at >= 0 {
			return t, fmt.Errorf("%s needs an API id after the @", kind)
		}
		return t, fmt.Errorf("%s throttles every client separately, so it needs @API", kind)
	}
	t.API = api
	return t, nil
}
