package main

// The control API's command-line client, for people at a terminal: blocks,
// decisions, the allow-list, the audit trail and health, as tables (or the API's
// JSON with -o json). It speaks only HTTP to /api/v1/, under the Functions host or
// `apiguard serve`, and decodes the answers with the application layer's own view
// types, so the two cannot drift.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/vocab"
)

// subcommand is one command of the client: its synopsis, how many arguments it
// takes, and its flags, which it registers before returning what runs it.
type subcommand struct {
	synopsis string
	args     int
	flags    func(fl *flag.FlagSet) func(c *client, args []string) error
}

// clientGroups are the commands with subcommands; audit and health stand alone.
var clientGroups = map[string]map[string]subcommand{
	"blocks":    {"list": blocksList, "add": blocksAdd, "rm": blocksRemove, "extend": blocksExtend},
	"decisions": {"list": decisionsList, "approve": decisionAnswer("approve"), "reject": decisionAnswer("reject"), "revert": decisionAnswer("revert")},
	"allow":     {"list": allowList, "add": allowAdd, "rm": allowRemove},
}

var clientSingles = map[string]subcommand{"audit": auditList, "health": healthCheck}

// runClient runs `apiguard blocks|decisions|allow|audit|health ...`.
func runClient(args []string, stdout, stderr io.Writer) int {
	name := args[0]
	if sc, ok := clientSingles[name]; ok {
		return runSubcommand(name, sc, args[1:], stdout, stderr)
	}
	group := clientGroups[name]
	subs := make([]string, 0, len(group))
	for s := range group {
		subs = append(subs, s)
	}
	slices.Sort(subs)
	groupUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage:\n")
		for _, s := range subs {
			fmt.Fprintf(w, "  apiguard %s %s %s\n", name, s, group[s].synopsis)
		}
		fmt.Fprintf(w, "\n`apiguard %s SUBCOMMAND -h` lists its flags.\n", name)
	}
	if len(args) < 2 {
		groupUsage(stderr)
		return 2
	}
	switch sub := args[1]; sub {
	case "help", "-h", "--help":
		groupUsage(stdout)
		return 0
	default:
		sc, ok := group[sub]
		if !ok {
			fmt.Fprintf(stderr, "apiguard %s: unknown subcommand %q\n\n", name, sub)
			groupUsage(stderr)
			return 2
		}
		return runSubcommand(name+" "+sub, sc, args[2:], stdout, stderr)
	}
}

// Exit codes: 1 for a refused or failed request (and an unhealthy health), 2 for a
// command line that cannot be run.
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// errUnhealthy makes health exit 1 once it has printed why.
var errUnhealthy = errors.New("unhealthy")

func runSubcommand(name string, sc subcommand, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("apiguard "+name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	opts := commonFlags(fl)
	act := sc.flags(fl)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "Usage: apiguard %s %s\n\nFlags:\n", name, sc.synopsis)
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != sc.args {
		fmt.Fprintf(stderr, "apiguard %s: takes %d argument(s), got %d\n", name, sc.args, len(pos))
		fl.Usage()
		return exitUsage
	}
	c, err := opts.client(stdout, stderr)
	if err == nil {
		err = act(c, pos)
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "apiguard %s: %s\n", name, redact(err.Error(), opts.key))
		return exitUsage
	case errors.Is(err, errUnhealthy):
		return exitFailed
	default:
		fmt.Fprintln(stderr, "apiguard:", redact(err.Error(), opts.key))
		return exitFailed
	}
}

// parseInterspersed parses flags anywhere among the arguments (`blocks add 1.2.3.4
// --action block_waf`), as the flag package alone stops at the first argument; after
// "--" everything is an argument.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" || len(rest) == 0 {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// options are the flags every command takes.
type options struct {
	url, key, output, actor string
	timeout                 time.Duration
}

const defaultURL = "http://127.0.0.1:7071/api"

func commonFlags(fl *flag.FlagSet) *options {
	o := &options{}
	def := os.Getenv("APIGUARD_URL")
	if def == "" {
		def = defaultURL
	}
	fl.StringVar(&o.url, "url", def, "the function app's /api (APIGUARD_URL), e.g. https://APP.azurewebsites.net/api")
	// The key's default is read after parsing, so that -h never prints it.
	fl.StringVar(&o.key, "key", "", "the API key (default $APIGUARD_API_KEY): a function key, or serve's APIGUARD_API_KEY")
	fl.StringVar(&o.output, "o", "table", "output: table, or json (the API's JSON)")
	fl.StringVar(&o.actor, "actor", os.Getenv("USER"), "who acts, recorded with every change (X-Apiguard-Actor)")
	fl.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long one request may take")
	return o
}

// client is one command's connection to the control API.
type client struct {
	base   string // ending in /v1
	key    string
	actor  string
	json   bool
	http   *http.Client
	now    time.Time
	stdout io.Writer
	stderr io.Writer
}

func (o *options) client(stdout, stderr io.Writer) (*client, error) {
	if o.key == "" {
		o.key = os.Getenv("APIGUARD_API_KEY")
	}
	if o.output != "table" && o.output != "json" {
		return nil, usagef("-o %q: table or json", o.output)
	}
	if o.timeout <= 0 {
		return nil, usagef("--timeout %s: give a positive duration", o.timeout)
	}
	u, err := url.Parse(strings.TrimSpace(o.url))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, usagef("--url %q: give the app's http(s) base, e.g. %s", o.url, defaultURL)
	}
	path := strings.TrimSuffix(strings.TrimRight(u.EscapedPath(), "/"), "/v1")
	return &client{
		base: u.Scheme + "://" + u.Host + path + "/v1", key: o.key, actor: o.actor, json: o.output == "json",
		http: &http.Client{Timeout: o.timeout}, now: time.Now(), stdout: stdout, stderr: stderr,
	}, nil
}

// redact keeps the key out of anything printed.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "<key>")
}

// seg escapes one path segment: a CIDR's / becomes %2F.
func seg(s string) string { return url.PathEscape(s) }

// retryPause is the wait before the one retry, unless the answer's Retry-After says
// otherwise (at most maxRetryPause).
var retryPause = 500 * time.Millisecond

const maxRetryPause = 5 * time.Second

// call sends one request and decodes a 2xx JSON answer into out (when given); it
// returns the answer's body. A POST or DELETE carries a fresh Idempotency-Key and is
// retried once, with the same key, on a network error or a 503, so the retry never
// acts twice: the API answers it with the first answer when the first did act.
func (c *client) call(method, path string, query url.Values, body, out any) ([]byte, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	idem := ""
	if method == http.MethodPost || method == http.MethodDelete {
		idem = newIdempotencyKey()
	}
	var (
		resp *http.Response
		err  error
	)
	for attempt := 0; ; attempt++ {
		resp, err = c.send(method, target, payload, idem)
		if attempt == 1 || (err == nil && resp.StatusCode != http.StatusServiceUnavailable) {
			break
		}
		pause := retryPause
		if err == nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				pause = min(time.Duration(s)*time.Second, maxRetryPause)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		time.Sleep(pause)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, target, err)
	}
	if resp.StatusCode >= 300 {
		return nil, answerError(method, target, resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: the answer is not the JSON expected (is --url the app's /api?): %w", method, target, err)
		}
	}
	return raw, nil
}

func (c *client) send(method, target string, payload []byte, idem string) (*http.Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "apiguard-cli/"+version)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("x-functions-key", c.key)
	}
	if c.actor != "" {
		req.Header.Set("X-Apiguard-Actor", c.actor)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	return c.http.Do(req)
}

func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// problemAnswer is the API's application/problem+json.
type problemAnswer struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
}

// answerError says what a refused or failed request answered: the problem's title,
// detail and field, or the status and the start of a body that is no problem.
func answerError(method, target string, resp *http.Response, raw []byte) error {
	var p problemAnswer
	if json.Unmarshal(raw, &p) == nil && p.Title != "" {
		msg := p.Title
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		if p.Field != "" {
			msg += " (field: " + p.Field + ")"
		}
		return errors.New(msg)
	}
	msg := fmt.Sprintf("%s %s: %s", method, target, resp.Status)
	if text := clean(strings.TrimSpace(string(raw))); text != "" {
		msg += ": " + cut(text, 200)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (give the key with --key or APIGUARD_API_KEY)"
	case http.StatusNotFound:
		msg += " (is --url the app's /api?)"
	}
	return errors.New(msg)
}

// list reads a paged list: the first page, or with all every page. Items are decoded
// into T for tables; jsonOut is what -o json prints: the first page as the API
// answered it, or every item in one {"value": [...]}. more says pages were left.
func list[T any](c *client, path string, query url.Values, all bool) (items []T, jsonOut []byte, more bool, err error) {
	var raws []json.RawMessage
	seen := map[string]bool{}
	for {
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		raw, err := c.call(http.MethodGet, path, query, nil, &page)
		if err != nil {
			return nil, nil, false, err
		}
		if jsonOut == nil {
			jsonOut = raw
		}
		raws = append(raws, page.Value...)
		next := continuation(page.NextLink)
		if next == "" {
			break
		}
		if !all {
			more = true
			break
		}
		if seen[next] {
			return nil, nil, false, fmt.Errorf("GET %s: the API gave the same nextLink twice", path)
		}
		seen[next] = true
		// Follow the link's continuation on the URL we were given, so the key goes
		// nowhere else whatever host the link names.
		query = cloneValues(query)
		query.Set("continuation", next)
	}
	for _, r := range raws {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, nil, false, fmt.Errorf("GET %s: an item is not the JSON expected: %w", path, err)
		}
		items = append(items, v)
	}
	if all {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		jsonOut, _ = json.Marshal(map[string]any{"value": raws})
	}
	return items, jsonOut, more, nil
}

func continuation(nextLink string) string {
	if nextLink == "" {
		return ""
	}
	u, err := url.Parse(nextLink)
	if err != nil {
		return ""
	}
	return u.Query().Get("continuation")
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// listed reads a paged route as the list flags ask and prints it.
func listed[T any](c *client, lf *listFlags, path string, q url.Values, what string, header []string, row func(T) []string) error {
	items, raw, more, err := list[T](c, path, lf.query(q), lf.all)
	if err != nil {
		return err
	}
	return show(c, what, items, raw, more, header, row)
}

// show prints a list: its JSON, or a table with a note when pages were left.
func show[T any](c *client, what string, items []T, jsonOut []byte, more bool, header []string, row func(T) []string) error {
	if c.json {
		return c.printJSON(jsonOut)
	}
	if len(items) == 0 {
		fmt.Fprintf(c.stdout, "no %s\n", what)
	} else {
		rows := make([][]string, 0, len(items))
		for _, it := range items {
			rows = append(rows, row(it))
		}
		c.table(header, rows)
	}
	if more {
		fmt.Fprintf(c.stderr, "more %s exist: --all lists every page\n", what)
	}
	return nil
}

func (c *client) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

// table prints aligned columns.
func (c *client) table(header []string, rows [][]string) {
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, s := range r {
			if cells[i] = clean(s); cells[i] == "" {
				cells[i] = "-"
			}
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	_ = w.Flush()
}

// clean makes text safe for one table cell of a terminal: no tabs, line breaks or
// control characters.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
}

// cut shortens text for a table cell (-o json has it whole).
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// stamp is a time in UTC RFC 3339; ago is how far from now it reads.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (c *client) ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(c.now)
	if d >= 0 {
		return "in " + span(d)
	}
	return span(-d) + " ago"
}

// span is a duration to the minute (the second under one): 45s, 12m, 3h59m, 6d4h.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return strconv.Itoa(days) + "d"
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// until says when something ends: the time and how far off.
func (c *client) until(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return stamp(t) + " (" + c.ago(t) + ")"
}

// done prints what a change did: its JSON, or one line.
func (c *client) done(raw []byte, line string) error {
	if c.json {
		if len(raw) == 0 {
			return nil
		}
		return c.printJSON(raw)
	}
	fmt.Fprintln(c.stdout, clean(line))
	return nil
}

// oneOf checks a flag's value against the words it may take.
func oneOf[T ~string](flagName, v string, allowed []T) error {
	if v == "" || slices.Contains(allowed, T(v)) {
		return nil
	}
	return usagef("--%s %q: one of %v", flagName, v, allowed)
}

// timeFlag reads --since or --until: RFC 3339, or a duration back from now (24h, 7d).
func (c *client) timeFlag(q url.Values, name, v string) error {
	if v == "" {
		return nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		q.Set(name, t.UTC().Format(time.RFC3339))
		return nil
	}
	d, err := config.ParseDuration(v)
	if err != nil || d <= 0 {
		return usagef("--%s %q: an RFC 3339 time (2026-11-23T12:00:00Z) or a duration back from now (90m, 24h, 7d)", name, v)
	}
	q.Set(name, c.now.Add(-d).UTC().Format(time.RFC3339))
	return nil
}

// listFlags are the paging flags of every list.
type listFlags struct {
	all   bool
	limit int
}

func addListFlags(fl *flag.FlagSet) *listFlags {
	l := &listFlags{}
	fl.BoolVar(&l.all, "all", false, "follow nextLink: every page, not only the first")
	fl.IntVar(&l.limit, "limit", 0, "items per page, 1 to 500 (default: the API's, 100)")
	return l
}

// rangeFlags are --since and --until of a list over time; back is the API's default span.
type rangeFlags struct{ since, until string }

func addRangeFlags(fl *flag.FlagSet, back string) *rangeFlags {
	r := &rangeFlags{}
	fl.StringVar(&r.since, "since", "", "from: RFC 3339, or a duration back from now such as 2h (default: "+back+" before --until)")
	fl.StringVar(&r.until, "until", "", "to: RFC 3339, or a duration back from now (default: now)")
	return r
}

func (r *rangeFlags) query(c *client, q url.Values) error {
	return errors.Join(c.timeFlag(q, "since", r.since), c.timeFlag(q, "until", r.until))
}

func (l *listFlags) query(q url.Values) url.Values {
	if l.limit != 0 {
		q.Set("limit", strconv.Itoa(l.limit))
	}
	return q
}

func setIf(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

// ---- blocks ----

var blocksList = subcommand{
	synopsis: "[--action A] [--target T] [--source S] [--mode M] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", fmt.Sprintf("only this action: %v", vocab.EnforcingActions()))
		target := fl.String("target", "", "only this address, CIDR or identity")
		source := fl.String("source", "", `only blocks of this incident id, or "operator" for operators' blocks`)
		mode := fl.String("mode", "", fmt.Sprintf("only blocks in this mode: %v", vocab.Modes()))
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			if err := errors.Join(oneOf("action", *action, vocab.EnforcingActions()), oneOf("mode", *mode, vocab.Modes())); err != nil {
				return err
			}
			q := url.Values{}
			setIf(q, "action", *action)
			setIf(q, "target", *target)
			setIf(q, "source", *source)
			setIf(q, "mode", *mode)
			return listed(c, lf, "/blocks", q, "blocks",
				[]string{"ID", "KIND", "MODE", "EXPIRES", "OFFENCES", "SOURCE", "REASON"},
				func(b flow.Block) []string {
					return []string{b.ID, string(b.Kind), string(b.Mode), c.until(b.Expires), strconv.Itoa(b.Offences), b.Source, cut(b.Reason, 60)}
				})
		}
	},
}

// blockLine says where a block stands after a change.
func (c *client) blockLine(verb string, b flow.Block) string {
	return fmt.Sprintf("%s %s: expires %s, mode %s", verb, b.ID, c.until(b.Expires), b.Mode)
}

var blocksAdd = subcommand{
	synopsis: "TARGET --action A --duration D --reason R [--kind subscription|user]",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", fmt.Sprintf("what to do: %v", vocab.EnforcingActions()))
		duration := fl.String("duration", "", "how long, e.g. 30m, 4h, 7d (at most APIGUARD_MAX_DURATION)")
		reason := fl.String("reason", "", "why: kept with the block and in the audit")
		kind := fl.String("kind", "", "subscription or user for an identity (throttle only); an address or CIDR needs none")
		return func(c *client, args []string) error {
			if *action == "" || *duration == "" || strings.TrimSpace(*reason) == "" {
				return usagef("--action, --duration and --reason are required")
			}
			kinds := []vocab.KeyType{vocab.KeySubscription, vocab.KeyUser, vocab.KeyIP, "cidr"}
			if err := errors.Join(oneOf("action", *action, vocab.EnforcingActions()), oneOf("kind", *kind, kinds)); err != nil {
				return err
			}
			req := flow.BlockRequest{Target: args[0], Kind: vocab.KeyType(*kind), Action: vocab.Action(*action), Duration: *duration, Reason: *reason}
			var b flow.Block
			raw, err := c.call(http.MethodPost, "/blocks", nil, req, &b)
			if err != nil {
				return err
			}
			return c.done(raw, c.blockLine("added", b))
		}
	},
}

// blockID reads a block's id: <action>:<target>, or the target with --action.
func blockID(arg, action string) (string, error) {
	if action != "" {
		if err := oneOf("action", action, vocab.EnforcingActions()); err != nil {
			return "", err
		}
		return flow.BlockID(vocab.Action(action), arg), nil
	}
	a, target, ok := strings.Cut(arg, ":")
	if !ok || target == "" || !slices.Contains(vocab.EnforcingActions(), vocab.Action(a)) {
		return "", usagef("%q is not a block id: give <action>:<target> (action one of %v), or --action A TARGET", arg, vocab.EnforcingActions())
	}
	return arg, nil
}

var blocksRemove = subcommand{
	synopsis: "ID | --action A TARGET",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", "the block's action, when the argument is its target rather than its id")
		return func(c *client, args []string) error {
			id, err := blockID(args[0], *action)
			if err != nil {
				return err
			}
			var b flow.Block
			raw, err := c.call(http.MethodDelete, "/blocks/"+seg(id), nil, nil, &b)
			if err != nil {
				return err
			}
			return c.done(raw, "removed "+b.ID)
		}
	},
}

var blocksExtend = subcommand{
	synopsis: "ID --duration D",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		duration := fl.String("duration", "", "added to the expiry, e.g. 4h (the result at most APIGUARD_MAX_DURATION from now)")
		action := fl.String("action", "", "the block's action, when the argument is its target rather than its id")
		return func(c *client, args []string) error {
			if *duration == "" {
				return usagef("--duration is required")
			}
			id, err := blockID(args[0], *action)
			if err != nil {
				return err
			}
			var b flow.Block
			raw, err := c.call(http.MethodPost, "/blocks/"+seg(id)+"/extend", nil, flow.ExtendRequest{Duration: *duration}, &b)
			if err != nil {
				return err
			}
			return c.done(raw, c.blockLine("extended", b))
		}
	},
}

// ---- decisions ----

var decisionsList = subcommand{
	synopsis: "[--status S] [--since T] [--until T] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		status := fl.String("status", "", fmt.Sprintf("only decisions in this status: %v", vocab.Statuses()))
		rf := addRangeFlags(fl, "7d")
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			q := url.Values{}
			if err := errors.Join(oneOf("status", *status, vocab.Statuses()), rf.query(c, q)); err != nil {
				return err
			}
			setIf(q, "status", *status)
			return listed(c, lf, "/decisions", q, "decisions",
				[]string{"ID", "STATUS", "ACTION", "TARGET", "DURATION", "SEVERITY", "ALERT", "UPDATED", "REASON"},
				func(d flow.Decision) []string {
					target := d.Address
					if target == "" && d.Target != nil {
						target = d.Target.Value
					}
					return []string{d.ID, string(d.Status), string(d.Action), target, d.Duration, string(d.Severity), d.AlertType, c.ago(d.Updated), cut(d.Reason, 60)}
				})
		}
	},
}

// decisionAnswer is approve, reject or revert: a POST to /decisions/{id}/<verb>.
func decisionAnswer(verb string) subcommand {
	sc := subcommand{synopsis: "ID", args: 1}
	switch verb {
	case "reject":
		sc.synopsis = "ID [--reason R]"
	case "revert":
		sc.synopsis = "ID [--allow 24h] [--reason R]"
	}
	sc.flags = func(fl *flag.FlagSet) func(*client, []string) error {
		var reason, allow *string
		if verb != "approve" {
			reason = fl.String("reason", "", "why, kept in the audit")
		}
		if verb == "revert" {
			allow = fl.String("allow", "", "also allow-list the target for this long (e.g. 24h), so the same false positive does not come straight back")
		}
		return func(c *client, args []string) error {
			var body any
			switch verb {
			case "reject":
				body = flow.RejectRequest{Reason: *reason}
			case "revert":
				body = flow.RevertRequest{Allow: *allow, Reason: *reason}
			}
			var d flow.Decision
			raw, err := c.call(http.MethodPost, "/decisions/"+seg(args[0])+"/"+verb, nil, body, &d)
			if err != nil {
				return err
			}
			return c.done(raw, fmt.Sprintf("decision %s is %s", d.ID, d.Status))
		}
	}
	return sc
}

// ---- allow-list ----

var allowList = subcommand{
	synopsis: "[--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			return listed(c, lf, "/allowlist", url.Values{}, "allow-list entries",
				[]string{"PREFIX", "EXPIRES", "ACTOR", "CREATED", "REASON"},
				func(e flow.AllowEntry) []string {
					return []string{e.Prefix, c.until(e.Expires), e.Actor, stamp(e.Created), cut(e.Reason, 60)}
				})
		}
	},
}

var allowAdd = subcommand{
	synopsis: "TARGET --reason R [--duration D]",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		reason := fl.String("reason", "", "why: kept with the entry and in the audit")
		duration := fl.String("duration", "", "how long, e.g. 24h (default: until removed)")
		return func(c *client, args []string) error {
			if strings.TrimSpace(*reason) == "" {
				return usagef("--reason is required")
			}
			var e flow.AllowEntry
			raw, err := c.call(http.MethodPost, "/allowlist", nil, flow.AllowRequest{Target: args[0], Duration: *duration, Reason: *reason}, &e)
			if err != nil {
				return err
			}
			return c.done(raw, fmt.Sprintf("allow-listed %s: expires %s (blocks it covers are reverted)", e.Prefix, c.until(e.Expires)))
		}
	},
}

var allowRemove = subcommand{
	synopsis: "PREFIX",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error {
			raw, err := c.call(http.MethodDelete, "/allowlist/"+seg(args[0]), nil, nil, nil)
			if err != nil {
				return err
			}
			return c.done(raw, "removed "+args[0]+" from the allow-list")
		}
	},
}

// ---- audit and health ----

var auditList = subcommand{
	synopsis: "[--since T] [--until T] [--target T] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		rf := addRangeFlags(fl, "24h")
		target := fl.String("target", "", "only entries about this address, identity, incident or target")
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			q := url.Values{}
			if err := rf.query(c, q); err != nil {
				return err
			}
			setIf(q, "target", *target)
			return listed(c, lf, "/audit", q, "audit entries",
				[]string{"TIME", "KIND", "SUBJECT", "ACTOR"},
				func(e flow.AuditEntry) []string { return []string{stamp(e.Time), e.Kind, e.Subject, e.Actor} })
		}
	},
}

var healthCheck = subcommand{
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		return func(c *client, _ []string) error {
			var h flow.Health
			raw, err := c.call(http.MethodGet, "/health", nil, nil, &h)
			if err != nil {
				return err
			}
			if c.json {
				err = c.printJSON(raw)
			} else {
				c.healthTable(h)
			}
			if err == nil && h.Status != "healthy" {
				return errUnhealthy
			}
			return err
		}
	},
}

func (c *client) healthTable(h flow.Health) {
	fmt.Fprintf(c.stdout, "%s (checked %s)\n", clean(h.Status), stamp(h.Checked))
	for _, cause := range h.Causes {
		fmt.Fprintf(c.stdout, "  cause: %s\n", clean(cause))
	}
	fmt.Fprintf(c.stdout, "pending approvals %d, set aside in 24h %d, notifications failed in 24h %d\n",
		h.PendingApprovals, h.SetAside24h, h.NotificationsFailed24h)
	for _, q := range slices.Sorted(maps.Keys(h.DeadLetters)) {
		fmt.Fprintf(c.stdout, "dead letters in %s: %d\n", clean(q), h.DeadLetters[q])
	}
	if len(h.Functions) > 0 {
		fmt.Fprintln(c.stdout)
		rows := make([][]string, 0, len(h.Functions))
		for _, f := range h.Functions {
			rows = append(rows, []string{f.Name, c.ago(f.LastSuccess), c.ago(f.LastFailure), strconv.FormatInt(f.Invocations, 10), cut(f.LastError, 80)})
		}
		c.table([]string{"FUNCTION", "LAST SUCCESS", "LAST FAILURE", "INVOCATIONS", "LAST ERROR"}, rows)
	}
	if len(h.Targets) > 0 {
		fmt.Fprintln(c.stdout)
		rows := make([][]string, 0, len(h.Targets))
		for _, t := range h.Targets {
			rows = append(rows, []string{t.Target, strconv.FormatBool(t.InSync), c.ago(t.LastReconcile), c.ago(t.DiffersSince), c.ago(t.LastFailure), cut(t.LastError, 80)})
		}
		c.table([]string{"TARGET", "IN SYNC", "LAST RECONCILE", "DIFFERS SINCE", "LAST FAILURE", "LAST ERROR"}, rows)
	}
}
