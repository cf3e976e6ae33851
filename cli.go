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
	"mime"
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
	"triage":    {"show": triageShow, "run": triageRun},
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
		if attempt == 1 || (err == nil && !unavailable(resp)) {
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
	if resp.StatusCode >= 300 && !answered(resp) {
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

// answered reports whether a non-2xx answer is still the route's document, not a
// problem: /health answers 503 with the health document when unhealthy.
func answered(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp.StatusCode == http.StatusServiceUnavailable && mt == "application/json"
}

// unavailable is a 503 worth one retry: the service's problem, not an answer.
func unavailable(resp *http.Response) bool {
	return resp.StatusCode == http.StatusServiceUnavailable && !answered(resp)
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
