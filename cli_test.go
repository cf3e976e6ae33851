package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/control"
	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/queue"
	"github.com/apiguard/apiguard/shared/record"
)

// seen is one request as the test server received it.
type seen struct {
	method, uri                 string
	bearer, functionsKey, actor string
	idempotencyKey              string
	status                      int
	replayed                    bool
}

// cliServer is the control API over an in-memory application layer, served over
// HTTP, with a local Front Door policy file as its WAF target and serve's in-process
// queue reconciling it.
type cliServer struct {
	url    string // what --url takes
	app    *flow.App
	store  *record.Memory
	queue  *queue.Memory
	policy string

	mu   sync.Mutex
	reqs []seen
	// key, when set, is required as serve requires APIGUARD_API_KEY.
	key string
	// fault, when set, sees each request before the API and may answer it instead
	// (true) or after the API has (see faultAfter).
	fault func(n int, w http.ResponseWriter, r *http.Request, api http.Handler) bool
}

func newCLIServer(t *testing.T, settings map[string]string) *cliServer {
	t.Helper()
	return newCLIServerWith(t, settings, nil)
}

// newCLIServerWith lets a test add parts to the application's dependencies.
func newCLIServerWith(t *testing.T, settings map[string]string, more func(*flow.Deps)) *cliServer {
	t.Helper()
	s := &cliServer{policy: filepath.Join(t.TempDir(), "waf", "frontdoor.json")}
	env := map[string]string{
		"APIGUARD_MODE":        "enforce",
		"APIGUARD_WAF_TARGETS": fmt.Sprintf(`[{"file": %q, "kind": "frontdoor"}]`, s.policy),
	}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	s.store = record.NewMemory()
	s.queue = queue.NewMemory(t.Context(), 10*time.Millisecond, func(ctx context.Context, target string, _ []queue.Message) error {
		_, err := s.app.Reconcile(ctx, zerolog.Nop(), target)
		return err
	}, func(target string, err error) {
		if !errors.Is(err, context.Canceled) { // the test ended with work queued
			t.Errorf("reconcile %s: %v", target, err)
		}
	})
	deps := flow.Deps{Config: cfg, Store: s.store, Detect: detect.NewMemoryStore(1000, time.Hour), Queue: s.queue, Log: zerolog.Nop()}
	if more != nil {
		more(&deps)
	}
	s.app, err = flow.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	api := control.New(s.app, control.Options{Log: zerolog.Nop(), Keys: s.store, MaxBody: cfg.MaxBodyBytes})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, seen{method: r.Method, uri: r.RequestURI, functionsKey: r.Header.Get("x-functions-key"),
			bearer: r.Header.Get("Authorization"), actor: r.Header.Get("X-Apiguard-Actor"), idempotencyKey: r.Header.Get("Idempotency-Key")})
		fault, key := s.fault, s.key
		s.mu.Unlock()
		rec := httptest.NewRecorder()
		switch {
		case key != "" && r.Header.Get("Authorization") != "Bearer "+key:
			rec.Header().Set("Content-Type", "application/problem+json")
			rec.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(rec, `{"type":"urn:apiguard:problem:unauthorized","title":"A valid API key is required","status":401}`)
		case fault != nil && fault(n, w, r, api):
			s.answered(n, http.StatusServiceUnavailable, false)
			return
		default:
			api.ServeHTTP(rec, r)
		}
		s.answered(n, rec.Code, rec.Header().Get("Idempotent-Replayed") == "true")
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/api"
	return s
}

func (s *cliServer) answered(n, status int, replayed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs[n].status, s.reqs[n].replayed = status, replayed
}

func (s *cliServer) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// cli runs one command line against the server, as alice.
func (s *cliServer) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(args, "--url", s.url, "--actor", "alice")...)
}

// must runs a command that has to succeed.
func (s *cliServer) must(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// policyFile is the WAF policy as the last reconcile left it.
func (s *cliServer) policyFile(t *testing.T) string {
	t.Helper()
	s.queue.Wait()
	doc, err := os.ReadFile(s.policy)
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// decodeList reads -o json's list.
func decodeList[T any](t *testing.T, out string) ([]T, string) {
	t.Helper()
	var page struct {
		Value    []T    `json:"value"`
		NextLink string `json:"nextLink"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("-o json is not a list: %v\n%s", err, out)
	}
	return page.Value, page.NextLink
}

// checkTable checks a table: the header's columns, and every row starting each
// column where the header does.
func checkTable(t *testing.T, out string, header ...string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(header) > 0 && strings.Join(strings.Fields(lines[0]), " ") != strings.Join(header, " ") {
		t.Fatalf("header %q, want %q", lines[0], header)
	}
	var starts []int
	for i := range lines[0] {
		if lines[0][i] != ' ' && (i == 0 || lines[0][i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	for _, l := range lines[1:] {
		for _, at := range starts[1:] {
			if len(l) <= at || l[at] == ' ' || l[at-1] != ' ' {
				t.Errorf("row not aligned with the header at column %d:\n%s", at, out)
				break
			}
		}
	}
	return lines[1:]
}

// A block added from the command line enters the policy file, is extended, listed
// as a table and as JSON, and leaves the file when removed; a CIDR's id travels
// URL-escaped.
func TestCLIBlocks(t *testing.T) {
	s := newCLIServer(t, nil)
	out := s.must(t, "blocks", "add", "45.153.160.201", "--action", "block_waf", "--duration", "4h", "--reason", "scanning /admin")
	if !strings.HasPrefix(out, "added block_waf:45.153.160.201: expires ") || !strings.Contains(out, "(in 3h59m)") || !strings.Contains(out, "mode enforce") {
		t.Errorf("add said %q", out)
	}
	if !strings.Contains(s.policyFile(t), "45.153.160.201") {
		t.Fatalf("the block is not in the policy file:\n%s", s.policyFile(t))
	}
	s.must(t, "blocks", "add", "--action=block_waf", "45.153.170.0/24", "--duration=1d", "--reason", "a range")

	out = s.must(t, "blocks", "extend", "block_waf:45.153.160.201", "--duration", "4h")
	if !strings.Contains(out, "extended block_waf:45.153.160.201") || !strings.Contains(out, "(in 7h59m)") {
		t.Errorf("extend said %q", out)
	}

	out = s.must(t, "blocks", "list")
	rows := checkTable(t, out, "ID", "KIND", "MODE", "EXPIRES", "OFFENCES", "SOURCE", "REASON")
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "block_waf:45.153.160.201 ") || !strings.Contains(rows[0], "operator:alice") ||
		!strings.Contains(rows[0], "scanning /admin") || !strings.Contains(rows[1], "block_waf:45.153.170.0/24") || !strings.Contains(rows[1], "cidr") {
		t.Errorf("blocks list:\n%s", out)
	}
	blocks, next := decodeList[flow.Block](t, s.must(t, "blocks", "list", "-o", "json", "--target", "45.153.160.201"))
	if len(blocks) != 1 || next != "" || blocks[0].ID != "block_waf:45.153.160.201" || blocks[0].Expires.Sub(time.Now()) < 7*time.Hour+58*time.Minute {
		t.Errorf("blocks list -o json: %+v", blocks)
	}
	if out := s.must(t, "blocks", "list", "--action", "throttle"); out != "no blocks\n" {
		t.Errorf("an empty list said %q", out)
	}

	out = s.must(t, "blocks", "rm", "--action", "block_waf", "45.153.160.201")
	if out != "removed block_waf:45.153.160.201\n" {
		t.Errorf("rm said %q", out)
	}
	s.must(t, "blocks", "rm", "block_waf:45.153.170.0/24", "-o", "json")
	if doc := s.policyFile(t); strings.Contains(doc, "45.153.160.201") || strings.Contains(doc, "45.153.170.0") {
		t.Errorf("removed blocks are still in the policy file:\n%s", doc)
	}
	if out := s.must(t, "blocks", "list"); out != "no blocks\n" {
		t.Errorf("after rm: %q", out)
	}

	var escaped bool
	for _, r := range s.requests() {
		escaped = escaped || r.method == http.MethodDelete && r.uri == "/api/v1/blocks/block_waf:45.153.170.0%2F24"
		if r.actor != "alice" {
			t.Errorf("%s %s: actor %q", r.method, r.uri, r.actor)
		}
		if (r.method == http.MethodPost || r.method == http.MethodDelete) != strings.HasPrefix(r.idempotencyKey, "cli-") {
			t.Errorf("%s %s: Idempotency-Key %q", r.method, r.uri, r.idempotencyKey)
		}
	}
	if !escaped {
		t.Errorf("the CIDR's / was not sent as %%2F: %+v", s.requests())
	}
}

// A protected target is refused with the problem's detail on stderr, exit 1.
func TestCLIRefused(t *testing.T) {
	s := newCLIServer(t, nil)
	code, out, errOut := s.cli(t, "blocks", "add", "10.1.2.3", "--action", "block_waf", "--duration", "4h", "--reason", "test")
	want := "apiguard: Refused: 10.1.2.3 is never blocked: 10.0.0.0/8: private range (RFC 1918) (field: target)\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", code, out, errOut, want)
	}
	code, _, errOut = s.cli(t, "blocks", "rm", "block_waf:45.153.160.9")
	if code != 1 || !strings.HasPrefix(errOut, "apiguard: Not found: ") {
		t.Errorf("rm of no block: exit %d, %q", code, errOut)
	}
}

// Command lines that cannot run exit 2 and send nothing.
func TestCLIUsage(t *testing.T) {
	s := newCLIServer(t, nil)
	for _, args := range [][]string{
		{"blocks", "list", "--bogus"},
		{"blocks"},
		{"blocks", "drop", "x"},
		{"blocks", "list", "-o", "yaml"},
		{"blocks", "list", "--action", "ban"},
		{"blocks", "add", "45.153.160.1", "--action", "block_waf", "--duration", "4h"},
		{"blocks", "add", "--action", "block_waf", "--duration", "4h", "--reason", "r"},
		{"blocks", "rm", "45.153.160.1"},
		{"blocks", "extend", "block_waf:45.153.160.1"},
		{"decisions", "list", "--since", "yesterday"},
		{"decisions", "list", "--status", "done"},
		{"allow", "add", "203.0.113.0/24"},
		{"audit", "--timeout", "-1s"},
		{"health", "extra"},
	} {
		code, out, errOut := s.cli(t, args...)
		if code != 2 || out != "" || errOut == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a reason", args, code, out, errOut)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
	if code, _, errOut := runCLI(t, "health", "--url", "ftp://example"); code != 2 || !strings.Contains(errOut, "--url") {
		t.Errorf("a URL that is not http(s): exit %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, "blocks", "help"); code != 0 || !strings.Contains(out, "apiguard blocks rm ID | --action A TARGET") {
		t.Errorf("blocks help: exit %d\n%s", code, out)
	}
}

// The key goes as a bearer token and as x-functions-key, and is printed nowhere:
// not in -h, not in a refusal, not in an error naming the URL.
func TestCLIKey(t *testing.T) {
	const key = "k3y-0123456789abcdef"
	s := newCLIServer(t, nil)
	s.key = key
	t.Setenv("APIGUARD_API_KEY", key)
	out := s.must(t, "blocks", "list")
	if out != "no blocks\n" {
		t.Errorf("with the key: %q", out)
	}
	r := s.requests()[0]
	if r.bearer != "Bearer "+key || r.functionsKey != key {
		t.Errorf("sent Authorization %q, x-functions-key %q", r.bearer, r.functionsKey)
	}
	var printed []string
	code, out, errOut := s.cli(t, "blocks", "list", "--key", "wrong-"+key)
	if code != 1 || !strings.Contains(errOut, "A valid API key is required") {
		t.Errorf("wrong key: exit %d %q", code, errOut)
	}
	printed = append(printed, out, errOut)
	for _, args := range [][]string{{"blocks", "add", "-h"}, {"health", "--url", "http://127.0.0.1:1/" + key + "/api"}, {"audit", "--bogus"}} {
		_, out, errOut := runCLI(t, args...)
		printed = append(printed, out, errOut)
	}
	for _, p := range printed {
		if strings.Contains(p, key) {
			t.Errorf("the key was printed:\n%s", p)
		}
	}
}

// health exits 0 when healthy and 1 when unhealthy, in either output.
func TestCLIHealth(t *testing.T) {
	s := newCLIServer(t, nil)
	code, out, _ := s.cli(t, "health")
	if code != 1 || !strings.HasPrefix(out, "unhealthy (checked ") || !strings.Contains(out, "cause: the expire timer has not run") {
		t.Errorf("before expire ran: exit %d\n%s", code, out)
	}
	if code, out, _ := s.cli(t, "health", "-o", "json"); code != 1 || !strings.Contains(out, `"status": "unhealthy"`) {
		t.Errorf("-o json unhealthy: exit %d\n%s", code, out)
	}
	if _, err := s.app.Expire(t.Context(), zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	s.app.Invoked(t.Context(), zerolog.Nop(), "expire", nil)
	s.queue.Wait() // the repair it asked for
	code, out, errOut := s.cli(t, "health")
	if code != 0 || !strings.HasPrefix(out, "healthy (checked ") || strings.Contains(out, "cause:") {
		t.Errorf("after expire ran: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "FUNCTION") || !strings.Contains(out, "expire ") || !strings.Contains(out, "TARGET") || !strings.Contains(out, "file:"+s.policy) {
		t.Errorf("health lacks the functions and targets:\n%s", out)
	}
	var h flow.Health
	code, out, _ = s.cli(t, "health", "-o", "json")
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil || h.Status != "healthy" {
		t.Errorf("-o json healthy: exit %d %v\n%s", code, err, out)
	}
	if code, _, errOut := runCLI(t, "health", "--url", "http://127.0.0.1:1/api", "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("no server: exit %d %q", code, errOut)
	}
}

// A POST whose answer is lost (a 503 after the API acted, or a dropped connection)
// is retried once with the same Idempotency-Key, and the API answers the retry with
// the first answer: exactly one block is created.
func TestCLIRetrySameKey(t *testing.T) {
	for name, lose := range map[string]func(w http.ResponseWriter){
		"503": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"type":"urn:apiguard:problem:unavailable","title":"Temporarily unavailable","status":503}`)
		},
		"dropped connection": func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newCLIServer(t, nil)
			s.fault = func(n int, w http.ResponseWriter, r *http.Request, api http.Handler) bool {
				if n != 0 {
					return false
				}
				api.ServeHTTP(httptest.NewRecorder(), r) // it acts; its answer is lost
				lose(w)
				return true
			}
			out := s.must(t, "blocks", "add", "45.153.160.202", "--action", "block_waf", "--duration", "4h", "--reason", "retry")
			if !strings.HasPrefix(out, "added block_waf:45.153.160.202") {
				t.Errorf("add said %q", out)
			}
			reqs := s.requests()
			if len(reqs) != 2 || reqs[0].idempotencyKey == "" || reqs[1].idempotencyKey != reqs[0].idempotencyKey || !reqs[1].replayed || reqs[1].status != http.StatusCreated {
				t.Fatalf("requests %+v: want the same key twice, the second answered from the first", reqs)
			}
			blocks, _ := decodeList[flow.Block](t, s.must(t, "blocks", "list", "-o", "json"))
			entries, _ := decodeList[flow.AuditEntry](t, s.must(t, "audit", "-o", "json"))
			created := 0
			for _, e := range entries {
				if e.Kind == "block.created" {
					created++
				}
			}
			if len(blocks) != 1 || created != 1 {
				t.Errorf("%d blocks, %d block.created entries: want one of each", len(blocks), created)
			}
		})
	}
	// A 503 that persists is retried once, then reported.
	s := newCLIServer(t, nil)
	s.fault = func(_ int, w http.ResponseWriter, _ *http.Request, _ http.Handler) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	code, _, errOut := s.cli(t, "allow", "rm", "203.0.113.0/24")
	if reqs := s.requests(); code != 1 || len(reqs) != 2 || reqs[0].idempotencyKey != reqs[1].idempotencyKey || !strings.Contains(errOut, "503") {
		t.Errorf("exit %d, %q, requests %+v", code, errOut, reqs)
	}
}

// alertAt is a Defender alert naming ip, raised now.
func alertAt(i int, ip string) []byte {
	return []byte(fmt.Sprintf(`{"id":"/subscriptions/s/providers/Microsoft.Security/locations/westeurope/alerts/c%d","name":"c%d",
"properties":{"alertType":"API_AccessFromSuspiciousIP","systemAlertId":"cli-%04d","severity":"High","startTimeUtc":%q,
"entities":[{"$id":"1","type":"ip","address":%q}]}}`, i, i, i, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), ip))
}

// Pending decisions listed, approved (into the policy file), rejected and reverted
// with an allow-list entry; paging by --limit with and without --all.
func TestCLIDecisions(t *testing.T) {
	s := newCLIServer(t, map[string]string{"APIGUARD_MODE": "approve"})
	ips := []string{"45.153.161.1", "45.153.161.2", "45.153.161.3"}
	for i, ip := range ips {
		if _, err := s.app.Alerts(t.Context(), zerolog.Nop(), alertAt(i, ip), http.Header{}); err != nil {
			t.Fatal(err)
		}
	}
	out := s.must(t, "decisions", "list", "--status", "pending")
	rows := checkTable(t, out, "ID", "STATUS", "ACTION", "TARGET", "DURATION", "SEVERITY", "ALERT", "UPDATED", "REASON")
	if len(rows) != 3 {
		t.Fatalf("pending decisions:\n%s", out)
	}
	for _, r := range rows {
		if f := strings.Fields(r); f[1] != "pending" || f[2] != "block_waf" || !strings.HasPrefix(f[3], "45.153.161.") {
			t.Errorf("row %q", r)
		}
	}
	decisions, _ := decodeList[flow.Decision](t, s.must(t, "decisions", "list", "--status", "pending", "-o", "json"))
	if len(decisions) != 3 {
		t.Fatalf("-o json: %+v", decisions)
	}
	id := map[string]string{}
	for _, d := range decisions {
		id[d.Address] = d.ID
	}

	if out := s.must(t, "decisions", "approve", id[ips[0]]); out != "decision "+id[ips[0]]+" is enforced\n" {
		t.Errorf("approve said %q", out)
	}
	if !strings.Contains(s.policyFile(t), ips[0]) {
		t.Errorf("approved block not in the policy file")
	}
	if out := s.must(t, "decisions", "reject", id[ips[1]], "--reason", "our scanner"); out != "decision "+id[ips[1]]+" is rejected\n" {
		t.Errorf("reject said %q", out)
	}
	if out := s.must(t, "decisions", "revert", id[ips[0]], "--allow", "24h", "--reason", "false positive"); out != "decision "+id[ips[0]]+" is reverted\n" {
		t.Errorf("revert said %q", out)
	}
	if strings.Contains(s.policyFile(t), ips[0]) {
		t.Errorf("reverted block still in the policy file")
	}
	out = s.must(t, "allow", "list")
	if rows := checkTable(t, out, "PREFIX", "EXPIRES", "ACTOR", "CREATED", "REASON"); len(rows) != 1 || !strings.HasPrefix(rows[0], ips[0]+"/32 ") || !strings.Contains(rows[0], "(in 23h59m)") {
		t.Errorf("allow list after revert --allow:\n%s", out)
	}
	code, _, errOut := s.cli(t, "decisions", "approve", id[ips[1]])
	if code != 1 || !strings.HasPrefix(errOut, "apiguard: The current state does not allow this: ") {
		t.Errorf("approving a rejected decision: exit %d %q", code, errOut)
	}

	// Paging: the first page and a note, or with --all every page.
	code, out, errOut = s.cli(t, "decisions", "list", "--limit", "2")
	if code != 0 || len(checkTable(t, out)) != 2 || errOut != "more decisions exist: --all lists every page\n" {
		t.Errorf("first page: exit %d\n%s%s", code, out, errOut)
	}
	if _, next := decodeList[flow.Decision](t, s.must(t, "decisions", "list", "--limit", "2", "-o", "json")); next == "" {
		t.Error("-o json without --all: no nextLink")
	}
	code, out, errOut = s.cli(t, "decisions", "list", "--limit", "2", "--all")
	if code != 0 || len(checkTable(t, out)) != 3 || errOut != "" {
		t.Errorf("--all: exit %d\n%s%s", code, out, errOut)
	}
	all, next := decodeList[flow.Decision](t, s.must(t, "decisions", "list", "--limit", "1", "--all", "-o", "json", "--since", "1h"))
	if len(all) != 3 || next != "" {
		t.Errorf("--all -o json: %d decisions, nextLink %q", len(all), next)
	}
}

// The allow-list and the audit trail, as tables and as JSON.
func TestCLIAllowAndAudit(t *testing.T) {
	s := newCLIServer(t, nil)
	out := s.must(t, "allow", "add", "203.0.113.0/24", "--reason", "office", "--duration", "24h")
	if !strings.HasPrefix(out, "allow-listed 203.0.113.0/24: expires ") {
		t.Errorf("allow add said %q", out)
	}
	s.must(t, "allow", "add", "198.51.100.7", "--reason", "partner")
	out = s.must(t, "allow", "list")
	rows := checkTable(t, out, "PREFIX", "EXPIRES", "ACTOR", "CREATED", "REASON")
	if len(rows) != 2 || !strings.Contains(out, "203.0.113.0/24") || !strings.Contains(out, "never") || !strings.Contains(out, "alice") {
		t.Errorf("allow list:\n%s", out)
	}
	entries, _ := decodeList[flow.AllowEntry](t, s.must(t, "allow", "list", "-o", "json"))
	if len(entries) != 2 {
		t.Errorf("allow list -o json: %+v", entries)
	}
	if out := s.must(t, "allow", "rm", "203.0.113.0/24"); out != "removed 203.0.113.0/24 from the allow-list\n" {
		t.Errorf("allow rm said %q", out)
	}
	if out := s.must(t, "allow", "rm", "198.51.100.7", "-o", "json"); out != "" {
		t.Errorf("allow rm -o json printed %q", out)
	}
	if out := s.must(t, "allow", "list"); out != "no allow-list entries\n" {
		t.Errorf("after rm: %q", out)
	}

	out = s.must(t, "audit", "--since", "1h")
	rows = checkTable(t, out, "TIME", "KIND", "SUBJECT", "ACTOR")
	kinds := []string{}
	for _, r := range rows {
		f := strings.Fields(r)
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil || !strings.HasSuffix(f[0], "Z") || f[3] != "operator:alice" {
			t.Errorf("audit row %q", r)
		}
		kinds = append(kinds, f[1]+" "+f[2])
	}
	slices.Sort(kinds) // oldest first, but within one second in any order
	if strings.Join(kinds, ", ") != "allow.added 198.51.100.7/32, allow.added 203.0.113.0/24, allow.removed 198.51.100.7/32, allow.removed 203.0.113.0/24" {
		t.Errorf("audit kinds %q", kinds)
	}
	audit, _ := decodeList[flow.AuditEntry](t, s.must(t, "audit", "-o", "json", "--target", "198.51.100.7"))
	if len(audit) != 2 || audit[0].Detail == nil {
		t.Errorf("audit --target -o json: %+v", audit)
	}
	if out := s.must(t, "audit", "--until", "2h"); out != "no audit entries\n" {
		t.Errorf("audit until 2h ago: %q", out)
	}
}
